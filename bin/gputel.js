#!/usr/bin/env node
// The installed entry point: runs the compiled CLI (npm run build makes dist/).
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

const compiled = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(compiled)) {
  // A fresh clone after `npm ci` has no dist/ yet: say what to run instead of a module-not-found stack.
  process.stderr.write('gputel: not built yet: run `npm run build` in the gputel folder first (`npm start` builds and starts)\n');
  process.exit(3);
}
const { main } = await import(compiled.href);
await main(process.argv);
