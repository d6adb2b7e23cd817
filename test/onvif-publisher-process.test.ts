/**
 * The publisher as a process (`udsbus run onvif`, built CLI) and the demo (`npm start`).
 * Children are always killed and awaited in afterEach.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, spawnCli, waitForLine } from './helpers/harness.js';
import { idOf, startRig, type Rig } from './onvif-publisher/helpers.js';

let rig: Rig | undefined;
const children: ChildProcess[] = [];

afterEach(async () => {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
  await rig?.close();
  rig = undefined;
});

function spawn(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawnCli(args, env);
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe('udsbus run onvif', () => {
  it('SIGKILLed publisher: its camera.status is cleared (no longer online) and its presence will says offline', async () => {
    rig = await startRig(1, { name: 'victim', password: 'Kill-Secret-42' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    const url = `http://${sim!.username}@127.0.0.1:${sim!.port}/onvif/device_service`;
    const p = spawn(['run', 'onvif', '--socket', rig.bus.socket, '--camera', url, '--password-env', 'CAM_PW', '--log-level', 'debug'], {
      CAM_PW: sim!.password,
    });
    await rig.rec.status(id, { state: 'online' }, 20_000);
    await rig.rec.event(id, 'motion', (e) => e['initial'] === true);
    const mark = rig.rec.mark;
    p.child.kill('SIGKILL');
    await p.exited;
    await rig.rec.status(id, 'cleared', 10_000, mark);
    const will = await rig.rec.waitFor((m) => m.topic === 'publisher.onvif.onvif', 'presence will', 10_000, mark);
    expect(will.payload).toMatchObject({ state: 'offline', reason: 'publisher-disconnected' });
    // A late subscriber finds no status for the camera at all ("unknown" = offline).
    const late = await rig.bus.client({ name: 'late' });
    const retained: string[] = [];
    const sub = late.subscribe('camera.status.*').subscribe((m) => retained.push(m.topic));
    await late.flush();
    sub.unsubscribe();
    expect(retained).toEqual([]);
    // Debug logging never shows the password.
    expect(p.output()).toContain('camera status');
    expect(p.output()).not.toContain('Kill-Secret-42');
  });

  it('runs from a config file (passwordFile), and SIGTERM stops it cleanly: exit 0, status offline (shutdown)', async () => {
    rig = await startRig(1, { name: 'configured', password: 'File-Secret-7' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    const pwFile = join(rig.bus.dir, 'cam.pw');
    writeFileSync(pwFile, `${sim!.password}\n`, { mode: 0o600 });
    const config = join(rig.bus.dir, 'onvif.json');
    writeFileSync(
      config,
      JSON.stringify({
        name: 'from-file',
        cameras: [{ host: '127.0.0.1', port: sim!.port, username: sim!.username, passwordFile: 'cam.pw', name: 'Configured' }],
        timing: { pullTimeoutMs: 1000, backoffInitialMs: 50 },
      }),
    );
    chmodSync(config, 0o600);
    const p = spawn(['run', 'onvif', '--socket', rig.bus.socket, '--config', config]);
    const discovered = await rig.rec.waitFor((m) => m.topic === `camera.discovered.${id}`, 'discovered', 20_000);
    expect(discovered.payload).toMatchObject({ name: 'Configured', discoveredBy: 'static' });
    await rig.rec.status(id, { state: 'online' }, 20_000);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    await rig.rec.status(id, { state: 'offline', reason: 'shutdown' });
    await rig.rec.waitFor(
      (m) => m.topic === 'publisher.onvif.from-file' && (m.payload as { state: string }).state === 'offline',
      'presence offline',
    );
    expect(p.output()).not.toContain('File-Secret-7');
  });

  it('says what is wrong: no cameras, a bad config, no broker, an unknown component', async () => {
    rig = await startRig(0);
    const help = await runCli(['run', 'onvif', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--password-env <var>/);
    expect(help.stdout).toMatch(/other local users can read a command line/);
    const unknown = await runCli(['run', 'nonesuch', '--help']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown component "nonesuch": choose one of onvif/);

    const none = await runCli(['run', 'onvif', '--socket', rig.bus.socket]);
    expect(none.code).toBe(7);
    expect(none.stderr).toMatch(/no cameras: give --config FILE, --camera URL/);

    const bad = join(rig.bus.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ cameras: [{ host: 'x', pasword: 'oops' }] }));
    const typo = await runCli(['run', 'onvif', '--socket', rig.bus.socket, '--config', bad]);
    expect(typo.code).toBe(7);
    expect(typo.stderr).toMatch(/cameras\[0\]: unknown key "pasword"/);
    expect(typo.stderr).not.toContain('oops');

    const missingEnv = await runCli(['run', 'onvif', '--socket', rig.bus.socket, '--camera', 'http://admin@127.0.0.1:1/onvif/device_service', '--password-env', 'NOPE_NOT_SET']);
    expect(missingEnv.code).toBe(7);
    expect(missingEnv.stderr).toContain('NOPE_NOT_SET');

    const noBroker = await runCli(['run', 'onvif', '--socket', join(rig.bus.dir, 'nothing.sock'), '--camera', 'http://127.0.0.1:1/onvif/device_service']);
    expect(noBroker.code).toBe(2);
    expect(noBroker.stderr).toMatch(/cannot connect/);
  });
});

describe('udsbus demo (npm start)', () => {
  it('prints camera events within 10 s and exits 0 on SIGINT', async () => {
    const p = spawn(['demo']);
    await waitForLine(p.child.stderr!, (l) => l.includes('broker on '), 10_000);
    const line = await waitForLine(p.child.stdout!, (l) => /camera\.event\.\S+\.(motion|input|tamper|line)\s.*initial=false/.test(l), 10_000);
    expect(line).toMatch(/^\d\d:\d\d:\d\d\.\d{3} camera\.event\./);
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(0);
    expect(p.output()).toMatch(/camera\.status\.\S+\s+state=offline reason=shutdown/);
  });
});
