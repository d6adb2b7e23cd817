/**
 * The two packages as an installer gets them: `npm pack` of the library (udsbus, the repository
 * root) and of udsbus-nvr (packages/udsbus-nvr, staged from the build by scripts/stage-nvr.mjs),
 * both installed with one `npm install a.tgz b.tgz` into a fresh project with a strict TypeScript
 * config (so udsbus-nvr's exact `udsbus` dependency is met by the local tarball, never the
 * registry), a program importing 'udsbus' compiled there, and a broker started from the installed
 * `udsbus` bin (udsbus-nvr's) with --acl. Checks that the peer-credential addon was built from the
 * shipped sources (so `from.uid` is a number, not `anonymous`), that --acl is accepted, and that
 * `tap` works for a non-admin user under that ACL. As root, broker, program and tap run as
 * `nobody` (setpriv). A second fresh project installs only the library tarball: what it pulls in
 * must be the library's own small closure.
 *
 * Installs from npm's local cache where it can (--prefer-offline); node-gyp gets nodedir=/usr so it
 * never downloads headers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './helpers/harness.js';
import { CliProcess } from './helpers/cli.js';

const run = promisify(execFile);
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const hasSetpriv = existsSync('/usr/bin/setpriv');
const asNobody = isRoot && hasSetpriv;
if (!asNobody) {
  console.log(`pack-install: running as uid ${process.getuid?.()} instead of nobody (${isRoot ? 'setpriv (util-linux) missing' : 'not root, cannot switch user'})`);
}
/** argv prefix that drops to nobody:nogroup with no supplementary groups, when we can. */
const drop = (cmd: string[]): string[] =>
  asNobody ? ['/usr/bin/setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', ...cmd] : cmd;

const PROGRAM = `
import { connect, type Message } from 'udsbus';
import { firstValueFrom } from 'rxjs';

const socket = process.argv[2];
if (socket === undefined) throw new Error('usage: main.js SOCKET');
const bus = await connect({ socket, name: 'pack-install', reconnect: false });
const got = firstValueFrom(bus.subscribe('demo.event.>'));
await bus.flush();
bus.publish('demo.event.hello', { n: 1 });
const m: Message = await got;
bus.publish('demo.state.one', { on: true }, { retain: true });
await bus.flush();
await bus.close();
process.stdout.write(JSON.stringify({ topic: m.topic, payload: m.payload, from: m.from }) + '\\n');
`;

/** udsbus-nvr's schemas export, type-checked against the installed udsbus (its .d.ts import 'udsbus/core'). */
const SCHEMAS_PROGRAM = `
import { validatorFor, topics } from 'udsbus-nvr/schemas';
import { checkTopic, DEFAULT_LIMITS } from 'udsbus/core';

const topic: string = topics.cameraStatus('cam-01');
const v = validatorFor(topic);
process.stdout.write(JSON.stringify({ topic, problem: checkTopic(topic, DEFAULT_LIMITS), schema: v !== undefined }) + '\\n');
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2023'],
    types: ['node'],
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    verbatimModuleSyntax: true,
    outDir: 'out',
    rootDir: 'src',
  },
  include: ['src'],
};

let work: string;
let project: string;
let libProject: string;
let libTgz: string;
let nvrTgz: string;
let installLog = '';

const children: CliProcess[] = [];

/** The files of a tarball, without the `package/` prefix. */
async function tarFiles(tgz: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', tgz]);
  return stdout.split('\n').filter((f) => f !== '').map((f) => f.replace(/^package\//, ''));
}

async function tarText(tgz: string, file: string): Promise<string> {
  return (await run('tar', ['-xOzf', tgz, `package/${file}`], { maxBuffer: 16 << 20 })).stdout;
}

/** Relative links in a Markdown file that name no file (or folder) of the tarball. */
function unresolvedLinks(mdPath: string, text: string, files: string[]): string[] {
  const body = text.replace(/```[\s\S]*?```/g, ''); // code blocks hold shell and TypeScript, not links
  const targets = [...body.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g), ...body.matchAll(/^\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1]!);
  const bad: string[] = [];
  for (const t of targets) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(t) || t.startsWith('#')) continue; // https:, mailto:, in-page anchors
    const path = normalize(join(dirname(mdPath), decodeURI(t.replace(/#.*$/, '')))).replace(/\/$/, '');
    if (path.startsWith('..') || !(files.includes(path) || files.some((f) => f.startsWith(`${path}/`)))) bad.push(t);
  }
  return bad;
}

/** Package names installed under a project's node_modules (nested ones too), and their bytes on disk. */
function installed(dir: string): { names: Set<string>; bytes: number } {
  const names = new Set<string>();
  const walk = (nm: string): void => {
    if (!existsSync(nm)) return;
    for (const n of readdirSync(nm)) {
      if (n.startsWith('.')) continue;
      const scoped = n.startsWith('@') ? readdirSync(join(nm, n)).map((m) => `${n}/${m}`) : [n];
      for (const name of scoped) {
        names.add(name);
        walk(join(nm, name, 'node_modules'));
      }
    }
  };
  walk(join(dir, 'node_modules'));
  const size = (p: string): number => {
    const st = lstatSync(p);
    if (!st.isDirectory()) return st.size;
    return readdirSync(p).reduce((sum, n) => sum + size(join(p, n)), 0);
  };
  return { names, bytes: size(join(dir, 'node_modules')) };
}

async function npmInstall(cwd: string, args: string[]): Promise<string> {
  const r = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn', ...args], {
    cwd,
    env: { ...process.env, npm_config_nodedir: '/usr' },
    timeout: 100_000,
  });
  return `${r.stdout}${r.stderr}`;
}

function freshProject(name: string): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }, null, 2));
  return dir;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'udsbus-pack-'));
  chmodSync(work, 0o755); // nobody must be able to read the installed project
  if (!existsSync(join(ROOT, 'dist/bus/index.js'))) throw new Error('dist/ missing: run npm run build first');
  // dist/ is built by `npm test`; --ignore-scripts skips `prepare`/`prepack`, so both packs take a
  // second, and the udsbus-nvr folder is staged here instead of by its prepack.
  await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], { cwd: ROOT });
  await run(process.execPath, [join(ROOT, 'scripts/stage-nvr.mjs')], { cwd: ROOT });
  await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], { cwd: join(ROOT, 'packages/udsbus-nvr') });
  const tgzs = readdirSync(work).filter((f) => f.endsWith('.tgz'));
  const lib = tgzs.find((f) => /^udsbus-\d/.test(f));
  const nvr = tgzs.find((f) => f.startsWith('udsbus-nvr-'));
  if (lib === undefined || nvr === undefined) throw new Error(`npm pack made ${tgzs.join(', ') || 'no tarball'}`);
  libTgz = join(work, lib);
  nvrTgz = join(work, nvr);

  project = freshProject('app');
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  writeFileSync(join(project, 'src/main.ts'), PROGRAM);
  writeFileSync(join(project, 'src/schemas.ts'), SCHEMAS_PROGRAM);
  // Both tarballs in one command: udsbus-nvr's `udsbus` dependency (exact version) is met by the
  // library tarball being installed beside it, so npm never asks the registry for `udsbus`.
  installLog = await npmInstall(project, [libTgz, nvrTgz, '@types/node@^20.19']);
  // The repo's TypeScript compiles the app: a compiler is not what this test is about.
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: project }).catch((e: { stdout?: string }) => {
    throw new Error(`the app does not compile against the installed packages:\n${e.stdout ?? String(e)}`);
  });

  libProject = freshProject('lib');
  await npmInstall(libProject, [libTgz]);
}, 240_000);

afterAll(async () => {
  for (const c of children) c.child.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarballs', () => {
  it('udsbus (the library) ships dist/bus, the native sources, LICENSE and the protocol docs, and nothing of the CLI, no maps, no bench', async () => {
    const files = await tarFiles(libTgz);
    for (const f of ['native/peercred/peercred.c', 'native/peercred/binding.gyp', 'LICENSE', 'README.md', 'PROTOCOL.md', 'SECURITY.md', 'dist/bus/index.js', 'dist/bus/index.d.ts']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('dist/') && !f.startsWith('dist/bus/'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => /(^|\/)bench\//.test(f) || f.startsWith('dist/bus/durable/bench.'))).toEqual([]);
    const pkg = JSON.parse(await tarText(libTgz, 'package.json')) as Record<string, unknown>;
    expect(Object.keys(pkg['dependencies'] as object).sort()).toEqual(['cbor-x', 'eventemitter3', 'rxjs']);
    expect(pkg['bin']).toBeUndefined();
    expect(pkg['devDependencies']).toBeDefined(); // npm keeps them; they are not installed for a consumer
    console.log(`pack-install: udsbus ${files.length} files, tarball ${statSync(libTgz).size} bytes`);
  });

  it('udsbus-nvr ships the built CLI, publishers, subscribers, ops and schemas, the docs and units, and no copy of the library', async () => {
    const files = await tarFiles(nvrTgz);
    for (const f of ['LICENSE', 'README.md', 'SCHEMAS.md', 'dist/cli/main.js', 'dist/schemas/index.d.ts', 'dist/ops/broker-service.js', 'dist/publishers/onvif/cli.js',
      'dist/subscribers/dashboard/static/index.html', 'docs/debugging-with-tap.md', 'examples/onvif.config.json', 'packaging/systemd/udsbus.service', 'schemas/json/index.json']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('dist/bus/') || f.startsWith('native/'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    // bench/ is source-checkout tooling; `udsbus bench` (dist/cli/commands/bench.js) says so when run.
    expect(files.filter((f) => /(^|\/)bench\//.test(f))).toEqual([]);
    const pkg = JSON.parse(await tarText(nvrTgz, 'package.json')) as { bin: Record<string, string>; dependencies: Record<string, string> };
    expect(pkg.bin).toEqual({ udsbus: './dist/cli/main.js' });
    expect(pkg.dependencies['udsbus']).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    console.log(`pack-install: udsbus-nvr ${files.length} files, tarball ${statSync(nvrTgz).size} bytes`);
  });

  it('both carry repository, homepage and bugs, and every relative link in their Markdown names a file they ship', async () => {
    for (const tgz of [libTgz, nvrTgz]) {
      const files = await tarFiles(tgz);
      const pkg = JSON.parse(await tarText(tgz, 'package.json')) as { repository?: { url?: string }; homepage?: string; bugs?: { url?: string } };
      expect(pkg.repository?.url).toBe('git+https://github.com/udsbus/udsbus.git');
      expect(pkg.homepage).toMatch(/^https:\/\/github\.com\/udsbus\/udsbus[#/]/);
      expect(pkg.bugs?.url).toBe('https://github.com/udsbus/udsbus/issues');
      const bad: string[] = [];
      for (const md of files.filter((f) => f.endsWith('.md'))) {
        for (const link of unresolvedLinks(md, await tarText(tgz, md), files)) bad.push(`${md}: ${link}`);
      }
      expect(bad, tgz).toEqual([]);
    }
  });

  it('the library alone installs only its own small closure', () => {
    const { names, bytes } = installed(libProject);
    // cbor-x brings its optional native string extractor (cbor-extract, its prebuilt binary for this
    // platform and the loader that picks it); rxjs brings tslib; node-gyp is npm's own.
    const allowed = new Set(['udsbus', 'udsbus-peercred', 'cbor-x', 'cbor-extract', 'node-gyp-build-optional-packages', 'detect-libc', 'rxjs', 'tslib', 'eventemitter3']);
    const extra = [...names].filter((n) => !allowed.has(n) && !n.startsWith('@cbor-extract/'));
    expect(extra).toEqual([]);
    for (const n of ['udsbus', 'cbor-x', 'rxjs', 'eventemitter3', 'tslib']) expect(names).toContain(n);
    console.log(`pack-install: the library alone installs ${names.size} packages (${[...names].sort().join(', ')}), ${bytes} bytes in node_modules`);
  });

  it('one copy of the library: udsbus-nvr uses the udsbus installed beside it', async () => {
    expect(existsSync(join(project, 'node_modules/udsbus-nvr/node_modules/udsbus'))).toBe(false);
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string }> };
    const copies = Object.entries(lock.packages).filter(([k]) => k === 'node_modules/udsbus' || k.endsWith('/node_modules/udsbus'));
    expect(copies.map(([k, v]) => [k, v.resolved])).toEqual([['node_modules/udsbus', `file:../${libTgz.split('/').pop()}`]]);
    const prog = await run(process.execPath, [join(project, 'out/schemas.js')], { cwd: project });
    expect(JSON.parse(prog.stdout)).toEqual({ topic: 'camera.status.cam-01', problem: null, schema: true });
    // What cbor-x got for its optional native helper (README "Install" says what to expect).
    const native = await run(process.execPath, ['--input-type=module', '-e', "import { isNativeAccelerationEnabled } from 'cbor-x'; console.log(isNativeAccelerationEnabled)"], { cwd: libProject });
    console.log(`pack-install: cbor-x native acceleration in the library-only project: ${native.stdout.trim()}`);
  });

  // node-gyp needs a C compiler, make and python3; without them the addon (rightly) is skipped.
  const tools = ['cc', 'make', 'python3'].filter((t) => !process.env['PATH']!.split(':').some((d) => existsSync(join(d, t))));
  if (tools.length > 0) console.log(`pack-install: addon checks skipped, missing ${tools.join(', ')} (apt-get install gcc make python3)`);
  it.skipIf(tools.length > 0)('builds the peer-credential addon on install', () => {
    const addon = join(project, 'node_modules/udsbus-peercred/build/Release/peercred.node');
    expect(existsSync(addon), `no ${addon}; npm install said:\n${installLog}`).toBe(true);
    const count = readdirSync(join(project, 'node_modules')).filter((n) => !n.startsWith('.')).length;
    console.log(`pack-install: ${count} top-level entries in node_modules`);
  });

  it.skipIf(tools.length > 0)('a broker from the installed bin stamps verified uids and accepts --acl; tap works for a non-admin user', async () => {
    const uid = asNobody ? NOBODY : process.getuid!();
    const runDir = join(work, 'run');
    mkdirSync(runDir, { mode: 0o700 });
    if (asNobody) chownSync(runDir, NOBODY, NOBODY);
    const acl = join(work, 'acl');
    writeFileSync(acl, `allow user ${uid} publish demo.>\nallow user ${uid} subscribe demo.>\n`);
    chmodSync(acl, 0o644);
    const socket = join(runDir, 'bus.sock');
    const bin = join(project, 'node_modules/.bin/udsbus');

    const broker = new CliProcess(spawn(drop([bin, 'broker', '--socket', socket, '--acl', acl])[0]!, drop([bin, 'broker', '--socket', socket, '--acl', acl]).slice(1), { cwd: project }));
    children.push(broker);
    await broker.waitErr((l) => l.includes('listening on'), 15_000);

    const prog = drop([process.execPath, join(project, 'out/main.js'), socket]);
    const { stdout } = await run(prog[0]!, prog.slice(1), { cwd: project, timeout: 15_000 });
    const seen = JSON.parse(stdout.trim()) as { topic: string; from: { uid?: unknown; pid?: unknown; anonymous?: unknown } };
    expect(seen.topic).toBe('demo.event.hello');
    expect(seen.from.anonymous).toBeUndefined();
    expect(seen.from.uid).toBe(uid);
    expect(typeof seen.from.pid).toBe('number');

    // No right on _INBOX.>: tap must show what it may see (the retained state) and keep running
    // until --timeout (exit 3), not die on the refused inbox subscription (exit 1).
    const tapArgv = drop([bin, 'tap', '--socket', socket, '--json', '--timeout', '1', 'demo.>']);
    const tap = new CliProcess(spawn(tapArgv[0]!, tapArgv.slice(1), { cwd: project }));
    children.push(tap);
    const done = await tap.exited;
    expect(done.code, done.stderr).toBe(3);
    expect(done.stdout).toContain('demo.state.one');
    expect(done.stderr).toContain('replies are not paired');

    broker.child.kill('SIGTERM');
    expect((await broker.exited).code).toBe(0);
  }, 60_000);

  it('a SIGTERM to `npx udsbus broker` stops the real broker (which removes its socket)', async () => {
    const runDir = mkdtempSync(join(work, 'npx-'));
    const socket = join(runDir, 'bus.sock');
    const npx = new CliProcess(spawn('npx', ['--offline', 'udsbus', 'broker', '--socket', socket], { cwd: project }));
    children.push(npx);
    await npx.waitErr((l) => l.includes('listening on'), 20_000);
    expect(existsSync(socket)).toBe(true);
    const npmGone = new Promise((resolve) => npx.child.once('exit', resolve)); // stdio stays open while the broker lives
    npx.child.kill('SIGTERM');
    await npmGone;
    // npm exits at once; the broker notices it was orphaned within 250 ms and closes.
    const deadline = Date.now() + 5_000;
    while (existsSync(socket) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(socket), `the broker outlived npx; its stderr: ${npx.err.join('\n')}`).toBe(false);
  }, 40_000);
});
