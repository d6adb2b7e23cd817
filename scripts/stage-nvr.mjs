// Stages the udsbus-nvr package (packages/udsbus-nvr) from this checkout's build, so that
// `npm pack` there packs only files inside that folder: the compiled CLI, publishers,
// subscribers, ops and schemas, plus the docs, example configs and systemd units they describe.
// Their imports of 'udsbus', 'udsbus/core', ... resolve to the installed udsbus package (one copy
// of the library's classes). Run by `npm run pack:nvr` and by the package's own prepack.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkgDir = join(root, 'packages/udsbus-nvr');
const lib = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const nvr = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));

const fail = (msg) => {
  process.stderr.write(`stage-nvr: ${msg}\n`);
  process.exit(1);
};
if (nvr.version !== lib.version) fail(`udsbus-nvr is ${nvr.version} but udsbus is ${lib.version}; give both the same version`);
if (nvr.dependencies?.udsbus !== lib.version) fail(`udsbus-nvr must depend on udsbus ${lib.version} exactly (has ${nvr.dependencies?.udsbus})`);

const DIST = ['cli', 'publishers', 'subscribers', 'ops', 'schemas'];
for (const d of DIST) if (!existsSync(join(root, 'dist', d))) fail(`dist/${d} missing: run npm run build first`);

// What is staged is generated: start from nothing so a file removed from the sources goes too.
const STAGED = ['dist', 'docs', 'examples', 'packaging', 'schemas', 'SCHEMAS.md', 'PROTOCOL.md', 'SECURITY.md', 'LICENSE'];
for (const s of STAGED) rmSync(join(pkgDir, s), { recursive: true, force: true });

const noMaps = (src) => !src.endsWith('.map');
for (const d of DIST) cpSync(join(root, 'dist', d), join(pkgDir, 'dist', d), { recursive: true, filter: noMaps });
cpSync(join(root, 'schemas/json'), join(pkgDir, 'schemas/json'), { recursive: true });
mkdirSync(join(pkgDir, 'docs'));
for (const f of readdirSync(join(root, 'docs'))) cpSync(join(root, 'docs', f), join(pkgDir, 'docs', f));
mkdirSync(join(pkgDir, 'examples'));
for (const f of readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.config.json'))) {
  cpSync(join(root, 'examples', f), join(pkgDir, 'examples', f));
}
cpSync(join(root, 'packaging/systemd'), join(pkgDir, 'packaging/systemd'), { recursive: true });
// The protocol and security documents too: the docs and --acl point at them.
for (const f of ['SCHEMAS.md', 'PROTOCOL.md', 'SECURITY.md', 'LICENSE']) cpSync(join(root, f), join(pkgDir, f));
process.stdout.write(`stage-nvr: staged ${DIST.map((d) => `dist/${d}`).join(', ')}, docs, examples, packaging, LICENSE and the Markdown documents into packages/udsbus-nvr\n`);
