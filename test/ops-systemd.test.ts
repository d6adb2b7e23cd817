/**
 * The broker under (simulated) systemd: socket activation with systemd-socket-activate (the
 * listening socket arrives as fd 3, connections queued before the broker starts are served) and
 * sd_notify READY/STATUS/WATCHDOG/RELOADING/STOPPING, received on a notification socket this test
 * listens on itself (test/helpers/notify-listener.py). Every wait is on an event, bounded.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../bus/index.js';
import { CLI, tempDir, takeN } from './helpers/harness.js';
import { Lines } from './helpers/lines.js';
import { exited, hasKey, notifyListener, Reaper } from './helpers/services.js';
import { notifier } from '../ops/systemd.js';

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const missing = ['systemd-socket-activate', 'python3'].filter((c) => !has(c));
if (missing.length > 0) console.warn(`skipping systemd tests: ${missing.join(', ')} not installed (.ci/run installs them)`);

const reaper = new Reaper();
afterEach(() => reaper.run());


describe.skipIf(missing.length > 0)('systemd socket activation and sd_notify', () => {
  it('takes its socket from fd 3, serves the connection that woke it, reports READY/STATUS/WATCHDOG/STOPPING and leaves the socket file to systemd', async () => {
    const { dir, cleanup } = tempDir('udsbus-sd-');
    reaper.add(cleanup);
    const socket = join(dir, 'bus.sock');
    const notify = await notifyListener(reaper, join(dir, 'notify.sock'));
    // --socket names another path on purpose: under activation the inherited socket wins.
    const child = reaper.track(
      spawn(
        'systemd-socket-activate',
        ['-l', socket, '--fdname=udsbus', '-E', `NOTIFY_SOCKET=${join(dir, 'notify.sock')}`, '-E', 'WATCHDOG_USEC=400000', process.execPath, CLI, 'broker', '--socket', join(dir, 'unused.sock')],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    const out = new Lines(child.stdout);
    const err = new Lines(child.stderr);
    await err.waitFor((l) => l.startsWith('Listening on'), 10_000, 'systemd-socket-activate listening');
    expect(lstatSync(socket).isSocket()).toBe(true);
    // Nothing runs yet: this connection waits in the listen queue and starts the broker.
    const c = await connect({ socket, name: 'woke-it', connectTimeoutMs: 15_000 });
    reaper.add(() => c.close());
    const ready = await notify.waitFor(hasKey('READY=1'), 15_000, 'READY=1');
    const msg = JSON.parse(ready) as string[];
    expect(msg).toContain(`MAINPID=${child.pid}`); // systemd-socket-activate execs the broker: same pid
    expect(msg.find((l) => l.startsWith('STATUS='))).toMatch(new RegExp(`^STATUS=listening on ${socket}; \\d+ connections`));
    const start = JSON.parse(await out.waitFor((l) => l.includes('"evt":"start"'))) as Record<string, unknown>;
    expect(start).toMatchObject({ activation: 'systemd', socket, fdName: 'udsbus', notify: 'addon' });
    expect(existsSync(join(dir, 'unused.sock'))).toBe(false);

    // It is a working broker.
    const got = takeN(c.subscribe('cam.1.motion'), 1);
    await c.flush();
    const c2 = await connect({ socket, name: 'second' });
    reaper.add(() => c2.close());
    c2.publish('cam.1.motion', { on: true });
    expect((await got)[0]!.topic).toBe('cam.1.motion');

    // Watchdog: WATCHDOG_USEC=400000 → a ping every 200 ms while the event loop turns.
    await notify.waitForCount(hasKey('WATCHDOG=1'), 3, 10_000);

    await c.close();
    await c2.close();
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    await notify.waitFor(hasKey('STOPPING=1'), 5_000, 'STOPPING=1');
    // The socket unit owns the file: the broker must not remove it.
    expect(lstatSync(socket).isSocket()).toBe(true);
    await out.waitFor((l) => l.includes('"evt":"stop"'));
    // In the order they happened: "stopping" (at SIGTERM) before "stop" (the last line).
    const evts = out.all.map((l) => /"evt":"(stopping|stop)"/.exec(l)?.[1]).filter((e) => e !== undefined);
    expect(evts).toEqual(['stopping', 'stop']);
    expect(out.all.at(-1)).toContain('"evt":"stop"');
    // Connection lines with reason codes were logged.
    const closes = out.all.filter((l) => l.includes('"evt":"conn.close"')).map((l) => JSON.parse(l) as { client: string; reason: string });
    expect(closes).toEqual(expect.arrayContaining([expect.objectContaining({ client: 'woke-it', reason: 'bye' })]));
  });

  it('SIGHUP: RELOADING=1 then READY=1; logLevel applied in place, a changed limit reported as needing a restart, an invalid file keeps the running settings', async () => {
    const { dir, cleanup } = tempDir('udsbus-sd-');
    reaper.add(cleanup);
    const socket = join(dir, 'bus.sock');
    const config = join(dir, 'broker.jsonc');
    writeFileSync(config, `{\n  // test\n  "socket": "${socket}",\n  "logLevel": "info",\n}\n`);
    const notify = await notifyListener(reaper, join(dir, 'notify.sock'));
    const child = reaper.track(spawn(process.execPath, [CLI, 'broker', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: join(dir, 'notify.sock') } }));
    const out = new Lines(child.stdout);
    await notify.waitFor(hasKey('READY=1'), 15_000, 'READY=1');

    writeFileSync(config, `{\n  "socket": "${socket}",\n  "logLevel": "debug",\n  "maxConnections": 10,\n}\n`);
    child.kill('SIGHUP');
    const reload = JSON.parse(await out.waitFor((l) => l.includes('"evt":"reload"'))) as { applied: string[]; needsRestart: string[] };
    expect(reload.applied).toEqual(['logLevel']);
    expect(reload.needsRestart).toEqual(['maxConnections']);
    await notify.waitForCount(hasKey('READY=1'), 2, 5_000);
    const msgs = notify.messages();
    const iReload = msgs.findIndex((m) => m.includes('RELOADING=1'));
    expect(iReload).toBeGreaterThan(0);
    expect(msgs[iReload]!.some((l) => /^MONOTONIC_USEC=\d+$/.test(l))).toBe(true);
    expect(msgs.slice(iReload + 1).some((m) => m.includes('READY=1'))).toBe(true);

    writeFileSync(config, `{\n  "socket": "${socket}",\n  "logLevel": "loud"\n}\n`);
    child.kill('SIGHUP');
    const bad = JSON.parse(await out.waitFor((l) => l.includes('"evt":"reload.failed"'))) as { err: string };
    expect(bad.err).toContain(`${config}:3:3: /logLevel`);

    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });

  it.skipIf(!has('systemd-notify'))('without the addon, notifications go through systemd-notify --pid (the documented fallback)', async () => {
    const { dir, cleanup } = tempDir('udsbus-sd-');
    reaper.add(cleanup);
    const notify = await notifyListener(reaper, join(dir, 'notify.sock'));
    const errors: Error[] = [];
    const sd = notifier({ NOTIFY_SOCKET: join(dir, 'notify.sock') }, (e) => errors.push(e), { forceHelper: true });
    expect(sd.via).toBe('systemd-notify');
    sd.ready('fallback works');
    const msg = JSON.parse(await notify.waitFor(hasKey('READY=1'), 10_000, 'READY=1 from systemd-notify')) as string[];
    expect(msg).toContain('STATUS=fallback works');
    expect(msg).toContain(`MAINPID=${process.pid}`);
    expect(errors).toEqual([]);
  });
});
