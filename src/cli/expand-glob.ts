/**
 * `--file 'exports/*.csv'`: expands `*` and `?` (and `[…]` classes) in any
 * segment of a path, as a shell would, for patterns given quoted or from a
 * config file. Node 20 has no fs.glob; this is small enough not to need a
 * dependency. As in a shell, a wildcard does not match a leading '.'.
 */
import { readdir } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';

/** True when `path` has a wildcard to expand. */
export function isGlob(path: string): boolean {
  return /[*?[]/.test(path);
}

function segmentPattern(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i];
    if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '[' && segment.indexOf(']', i + 2) !== -1) {
      const close = segment.indexOf(']', i + 2);
      let body = segment.slice(i + 1, close).replace(/\\/g, '\\\\');
      if (body.startsWith('!')) body = '^' + body.slice(1);
      source += `[${body}]`;
      i = close;
    } else source += char.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** The regular files matching `pattern`, sorted; [] when none. Unreadable folders match nothing. */
export async function expandGlob(pattern: string): Promise<string[]> {
  const segments = pattern.split(/[\\/]/).filter((s, i) => s !== '' || i === 0);
  let bases = [isAbsolute(pattern) ? sep : '.'];
  if (isAbsolute(pattern)) segments.shift();
  for (let index = 0; index < segments.length; index++) {
    const segment = segments[index];
    const last = index === segments.length - 1;
    const next: string[] = [];
    for (const base of bases) {
      if (!isGlob(segment)) {
        next.push(base === '.' && !pattern.startsWith('./') ? segment : join(base, segment));
        continue;
      }
      const regex = segmentPattern(segment);
      const entries = await readdir(base, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        if (entry.name.startsWith('.') && !segment.startsWith('.')) continue;
        if (!regex.test(entry.name)) continue;
        if (last ? entry.isFile() || entry.isSymbolicLink() : entry.isDirectory() || entry.isSymbolicLink()) {
          next.push(base === '.' && !pattern.startsWith('./') ? entry.name : join(base, entry.name));
        }
      }
    }
    bases = next;
  }
  return bases.sort();
}
