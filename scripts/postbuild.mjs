// After tsc: what the build needs besides compiled JavaScript.
//   - dist/cli/main.js executable and the dashboard's static page beside its server;
//   - in a checkout, node_modules/.bin/udsbus -> dist/cli/main.js. The `udsbus` command belongs to
//     the udsbus-nvr package (packages/udsbus-nvr), not to this library package, so npm links no
//     bin for it here; this link keeps `npx udsbus ...` working in a checkout after `npm ci`, as
//     the README and docs/ use it. Nothing of it is packed.
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
chmodSync(join(root, 'dist/cli/main.js'), 0o755);
cpSync(join(root, 'subscribers/dashboard/static'), join(root, 'dist/subscribers/dashboard/static'), { recursive: true });

const binDir = join(root, 'node_modules/.bin');
if (existsSync(join(root, 'node_modules'))) {
  mkdirSync(binDir, { recursive: true });
  const link = join(binDir, 'udsbus');
  if (existsSync(link) || isLink(link)) rmSync(link);
  symlinkSync('../../dist/cli/main.js', link);
}

function isLink(p) {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
