/** The package version, read once from package.json (two levels up from both ops/ and dist/ops/; udsbus in a checkout, udsbus-nvr when installed). */
import { readFileSync } from 'node:fs';

function read(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if ((pkg.name === 'udsbus' || pkg.name === 'udsbus-nvr') && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* try the next */
    }
  }
  return 'unknown';
}

export const VERSION = read();
