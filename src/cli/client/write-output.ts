/**
 * How every client command writes its output to stdout, with what a pipe
 * needs: a reader that goes away (`gputel telemetry … | head -1`: EPIPE)
 * ends the command quietly with exit 0, as SIGPIPE ends a Unix filter, not
 * with an unhandled 'error' and a stack; and a reader slower than the
 * gateway holds the command back ('drain') instead of letting a whole
 * telemetry range queue in memory.
 */
import { errorMessage } from '../../common/gputel-error.js';
import { EXIT } from '../exit-codes.js';

let listening = false;

/**
 * stdout's errors arrive as an 'error' event, after the write that failed.
 * EPIPE: nobody reads any more, so there is nothing left to say, and the
 * command ends here (exit 0). Any other failure (a full disk behind a
 * socket, say) is one line on stderr and EXIT.FAILED: the output is cut.
 */
function onStdoutError(error: NodeJS.ErrnoException): void {
  if (error.code === 'EPIPE') process.exit(EXIT.OK);
  process.stderr.write(`gputel: cannot write the output (${errorMessage(error)}): what was printed is incomplete\n`);
  process.exit(EXIT.FAILED);
}

function listen(): void {
  if (listening) return;
  listening = true;
  process.stdout.on('error', onStdoutError);
}

/**
 * Writes `text` to stdout. Answers false when stdout's buffer is full: the
 * caller should wait for 'drain' on process.stdout before writing more
 * (writeOutput() does). A closed reader ends the process (see the file's doc).
 */
export function writeOutputNow(text: string): boolean {
  listen();
  if (text === '') return true;
  return process.stdout.write(text);
}

/**
 * Writes `text` to stdout and resolves once stdout can take more: awaiting
 * it between pages keeps at most one page in memory however slow the
 * reader. A closed reader ends the process (see the file's doc).
 */
export async function writeOutput(text: string): Promise<void> {
  if (writeOutputNow(text)) return;
  await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
}
