/**
 * The package as an installer gets it: `npm pack`, `npm install <tgz>` into a fresh project with a
 * strict TypeScript config, a program importing 'udsbus' compiled there, and a broker started from
 * the installed bin with --acl. Checks that the peer-credential addon was built from the shipped
 * sources (so `from.uid` is a number, not `anonymous`), that --acl is accepted, and that `tap` works
 * for a non-admin user under that ACL. As root, broker, program and tap run as `nobody` (setpriv).
 *
 * Installs from npm's local cache where it can (--prefer-offline); node-gyp gets nodedir=/usr so it
 * never downloads headers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
let tgz: string;
let installLog = '';
const children: CliProcess[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'udsbus-pack-'));
  chmodSync(work, 0o755); // nobody must be able to read the installed project
  if (!existsSync(join(ROOT, 'dist/bus/index.js'))) throw new Error('dist/ missing: run npm run build first');
  // dist/ is built by `npm test`; --ignore-scripts skips `prepare` so the pack takes a second.
  await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], { cwd: ROOT });
  const name = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (name === undefined) throw new Error('npm pack made no tarball');
  tgz = join(work, name);

  project = join(work, 'app');
  mkdirSync(join(project, 'src'), { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }, null, 2));
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  writeFileSync(join(project, 'src/main.ts'), PROGRAM);
  const r = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=warn', tgz, '@types/node@^20.19'], {
    cwd: project,
    env: { ...process.env, npm_config_nodedir: '/usr' },
    timeout: 100_000,
  });
  installLog = `${r.stdout}${r.stderr}`;
  // The repo's TypeScript compiles the app: a compiler is not what this test is about.
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: project });
}, 150_000);

afterAll(async () => {
  for (const c of children) c.child.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball, installed', () => {
  it('ships native sources, LICENSE and docs, and no source maps or bench code', async () => {
    const { stdout } = await run('tar', ['-tzf', tgz]);
    const files = stdout.split('\n').filter((f) => f !== '');
    expect(files).toContain('package/native/peercred/peercred.c');
    expect(files).toContain('package/native/peercred/binding.gyp');
    expect(files).toContain('package/LICENSE');
    expect(files).toContain('package/docs/debugging-with-tap.md');
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('package/dist/bench/'))).toEqual([]);
    const size = statSync(tgz).size;
    console.log(`pack-install: ${files.length} files, tarball ${size} bytes`);
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
