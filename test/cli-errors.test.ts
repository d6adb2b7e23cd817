/** Connection failures: one line each that names the cause and says what to do, exit code 2. */
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBus, tempDir, type TestBus } from './helpers/harness.js';
import { runToEnd } from './helpers/cli.js';

let dir: { dir: string; cleanup: () => void };
beforeAll(() => {
  dir = tempDir('udsbus-cli-errors-');
});
afterAll(() => dir.cleanup());

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

describe('connection errors', () => {
  it('no such file', async () => {
    const path = join(dir.dir, 'missing.sock');
    for (const cmd of [['tap'], ['pub', 'a.b', '1'], ['req', 'a.b'], ['stats']]) {
      const r = await runToEnd([...cmd, '--socket', path]);
      expect(r.code).toBe(2);
      expect(oneLine(r.stderr)).toBe(
        `udsbus: no such file: ${path} — no broker socket there; start one with "udsbus broker --socket ${path}", or point --socket / UDSBUS_SOCKET at the broker's socket`,
      );
    }
  });

  it('no such directory, via UDSBUS_SOCKET', async () => {
    const path = join(dir.dir, 'nodir', 'bus.sock');
    const r = await runToEnd(['tap'], { env: { UDSBUS_SOCKET: path } });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(new RegExp(`^udsbus: no such file: ${path} \\(directory ${join(dir.dir, 'nodir')} does not exist\\); is the broker running\\?`));
  });

  it('no broker listening (a stale socket file)', async () => {
    const path = join(dir.dir, 'stale.sock');
    // A listener killed with SIGKILL leaves its socket file behind, as a crashed broker does.
    spawnSync(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(lstatSync(path).isSocket()).toBe(true);
    const r = await runToEnd(['stats', '--socket', path]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(new RegExp(`^udsbus: no broker is listening on ${path} \\(a stale socket file`));
  });

  it('the path is not a socket', async () => {
    const file = join(dir.dir, 'plain-file');
    writeFileSync(file, 'x');
    const r = await runToEnd(['tap', '--socket', file]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe(
      `udsbus: ${file} is not a socket (it is a regular file); point --socket / UDSBUS_SOCKET at the broker's socket (udsbus broker prints its path when it starts)`,
    );
    const sub = join(dir.dir, 'a-directory');
    mkdirSync(sub);
    const d = await runToEnd(['req', 'x.y', '--socket', sub]);
    expect(d.code).toBe(2);
    expect(oneLine(d.stderr)).toMatch(/is not a socket \(it is a directory\)/);
  });

  describe('permission denied', () => {
    const isRoot = process.getuid?.() === 0;
    let bus: TestBus;
    beforeAll(async () => {
      if (!isRoot) {
        process.stdout.write('skipping permission tests: they need root to run the CLI as uid 65534\n');
        return;
      }
      bus = await startTestBus();
      chmodSync(bus.dir, 0o755); // the temp dir must be traversable for uid 65534
    });
    afterAll(async () => {
      await bus?.close();
    });

    it.skipIf(!isRoot)('socket mode 0600: says owner, group, mode and what to do', async () => {
      chmodSync(bus.socket, 0o600);
      const r = await runToEnd(['tap', '--socket', bus.socket], { uid: 65534, gid: 65534 });
      expect(r.code).toBe(2);
      expect(oneLine(r.stderr)).toMatch(
        new RegExp(
          `^udsbus: permission denied on ${bus.socket}: owner root \\(uid 0\\), group \\S+ \\(gid 0\\), mode 0600, and user \\S+ \\(uid 65534\\) is not its owner and the mode 0600 lets only the owner in; run as root \\(uid 0\\), or restart the broker with --mode 0660 --group <a group you are in>$`,
        ),
      );
    });

    it.skipIf(!isRoot)('socket mode 0660 and another group: names the group to join', async () => {
      chmodSync(bus.socket, 0o660);
      const r = await runToEnd(['stats', '--socket', bus.socket], { uid: 65534, gid: 65534 });
      expect(r.code).toBe(2);
      expect(oneLine(r.stderr)).toMatch(/^udsbus: permission denied on .*: owner root \(uid 0\), group (\S+) \(gid 0\), mode 0660, and user (\S+) \(uid 65534\) is not in group \1; ask an admin to add you \(sudo usermod -aG \1 \2\) and log in again/);
    });

    it.skipIf(!isRoot)('a directory on the way that may not be entered', async () => {
      const hidden = join(bus.dir, 'private');
      mkdirSync(hidden, { mode: 0o700 });
      const r = await runToEnd(['req', 'x.y', '--socket', join(hidden, 'bus.sock')], { uid: 65534, gid: 65534 });
      expect(r.code).toBe(2);
      expect(oneLine(r.stderr)).toMatch(new RegExp(`^udsbus: permission denied: user \\S+ \\(uid 65534\\) may not enter directory ${hidden} \\(owner root \\(uid 0\\), group \\S+ \\(gid 0\\), mode 0700\\)`));
    });
  });
});

describe('usage', () => {
  it('an unknown option exits 1', async () => {
    const r = await runToEnd(['tap', '--bogus']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('every command documents its exit codes and examples in --help', async () => {
    for (const cmd of ['tap', 'pub', 'req', 'stats']) {
      const r = await runToEnd([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Examples:\n {2}udsbus /);
      expect(r.stdout).toMatch(/Exit codes:\n {2}0 {2}/);
      expect(r.stdout).toMatch(/--socket <path>/);
    }
  });
});
