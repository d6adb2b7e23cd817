/**
 * Components (`udsbus run <name>`) as system services: real component processes against a real
 * broker, with a notification socket the test listens on (test/helpers/notify-listener.py) in
 * place of systemd's. READY=1 after connecting, WATCHDOG=1, RELOADING=1/READY=1 around SIGHUP,
 * STOPPING=1 on SIGTERM; SIGHUP applies logLevel (and alerting's rules) and keeps the running
 * config when the file is invalid; `UDSBUS_<KEY>` overrides the file and a bad value is refused
 * naming the variable. Every wait is on an event, bounded.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { addComponents, COMPONENTS } from '../cli/commands/run.js';
import { envName } from '../ops/broker-config.js';
import { CLI, ROOT, firstMatching, runCli, startTestBus, tempDir, type TestBus } from './helpers/harness.js';
import { Lines } from './helpers/lines.js';
import { exited, hasKey, notifyListener, Reaper } from './helpers/services.js';

const hasPython = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v python3'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!hasPython) console.warn('skipping component sd_notify tests: python3 (the notify socket stand-in) is not installed');

const reaper = new Reaper();
afterEach(() => reaper.run());

async function bus(): Promise<TestBus> {
  const b = await startTestBus();
  reaper.add(() => b.close());
  return b;
}

const evt = (e: string) => (l: string) => l.includes(`"evt":"${e}"`);
const msg = (m: string) => (l: string) => l.includes(`"msg":"${m}"`);

function component(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; err: Lines } {
  const child = reaper.track(spawn(process.execPath, [CLI, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, UDSBUS_SOCKET: '', UDSBUS_LOG_LEVEL: '', ...env } }));
  return { child, err: new Lines(child.stderr) };
}

const motion = (cameraId: string) => ({ v: 1, cameraId, kind: 'motion', active: true, initial: false, time: new Date().toISOString(), receivedAt: new Date().toISOString(), onvifTopic: 'tns1:RuleEngine/CellMotionDetector/Motion', source: {}, data: {} }) as const;

describe.skipIf(!hasPython)('components under (simulated) systemd', () => {
  it('alerting: READY after connecting, WATCHDOG, SIGHUP applies logLevel and new rules between RELOADING and READY, an invalid file is refused while it keeps running, STOPPING on SIGTERM', async () => {
    const b = await bus();
    const notifyPath = join(b.dir, 'notify.sock');
    const notify = await notifyListener(reaper, notifyPath);
    const config = join(b.dir, 'alerting.jsonc');
    const rules = (id: string, logLevel: string) => `{\n  // test\n  "logLevel": "${logLevel}",\n  "rules": [{ "id": "${id}", "topic": "camera.event.*.motion", "sinks": ["bus"] }],\n}\n`;
    writeFileSync(config, rules('first', 'info'));
    const watch = await b.client({ name: 'watch' });
    const alerts = watch.subscribe('alert.>');
    const got = (topic: string) => firstMatching(alerts, (m) => m.topic === topic, 10_000);

    const { child, err } = component(['alerting', '--config', config, '--socket', b.socket], { NOTIFY_SOCKET: notifyPath, WATCHDOG_USEC: '400000' });
    const ready = JSON.parse(await notify.waitFor(hasKey('READY=1'), 15_000, 'READY=1')) as string[];
    expect(ready).toContain(`STATUS=connected to ${b.socket}`);
    expect(ready).toContain(`MAINPID=${child.pid}`);
    expect(b.broker.broker.getStats().connections).toBe(2); // READY came after it connected
    await notify.waitForCount(hasKey('WATCHDOG=1'), 2, 10_000);

    // At info, delivering an alert logs nothing (that line is debug).
    let first = got('alert.first');
    watch.publish('camera.event.cam-1.motion', motion('cam-1'));
    await first;
    expect(err.all.some(msg('alert delivered'))).toBe(false);

    writeFileSync(config, rules('second', 'debug'));
    child.kill('SIGHUP');
    const reload = JSON.parse(await err.waitFor(evt('reload'), 10_000, 'the reload line')) as { applied: string[]; needsRestart: string[] };
    expect(reload).toMatchObject({ applied: ['logLevel', 'rules'], needsRestart: [] });
    await notify.waitForCount(hasKey('READY=1'), 2, 5_000);
    const msgs = notify.all.filter((l) => l.startsWith('[')).map((l) => JSON.parse(l) as string[]);
    const iReload = msgs.findIndex((m) => m.includes('RELOADING=1'));
    expect(iReload).toBeGreaterThan(0);
    expect(msgs[iReload]!.some((l) => /^MONOTONIC_USEC=\d+$/.test(l))).toBe(true);
    expect(msgs.slice(iReload + 1).some((m) => m.includes('READY=1'))).toBe(true);
    // The new rule is live and the debug line now shows.
    const second = got('alert.second');
    watch.publish('camera.event.cam-2.motion', motion('cam-2'));
    expect((await second).topic).toBe('alert.second');
    await err.waitFor(msg('alert delivered'), 5_000, 'a debug line after SIGHUP');

    // An invalid file: refused with its file:line, the running config stays (rule "second", debug).
    writeFileSync(config, '{\n  "logLevel": "loud",\n  "rules": []\n}\n');
    child.kill('SIGHUP');
    const bad = JSON.parse(await err.waitFor(evt('reload.failed'), 10_000, 'the reload.failed line')) as { err: string };
    expect(bad.err).toContain(`${config}:2:3: /logLevel`);
    first = got('alert.second');
    watch.publish('camera.event.cam-3.motion', motion('cam-3'));
    expect((await first).topic).toBe('alert.second');
    expect(child.exitCode).toBeNull();

    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    const stopping = JSON.parse(await notify.waitFor(hasKey('STOPPING=1'), 5_000, 'STOPPING=1')) as string[];
    expect(stopping).toContain('STATUS=stopping (SIGTERM)');
  });

  it('recording: UDSBUS_<KEY> overrides the file (strings as they are, others as JSON), --log-level beats UDSBUS_LOG_LEVEL; a changed setting it cannot apply live is named as needing a restart', async () => {
    const b = await bus();
    const notifyPath = join(b.dir, 'notify.sock');
    const notify = await notifyListener(reaper, notifyPath);
    const config = join(b.dir, 'recording.json');
    writeFileSync(config, JSON.stringify({ indexFile: join(b.dir, 'from-file.jsonl'), logLevel: 'warn', preRollMs: 1000 }));
    const env = { NOTIFY_SOCKET: notifyPath, UDSBUS_INDEX_FILE: join(b.dir, 'from-env.jsonl'), UDSBUS_LOG_LEVEL: 'info', UDSBUS_POST_ROLL_MS: '2500', UDSBUS_CAMERAS: '["cam-1"]' };
    const { child, err } = component(['recording', '--config', config, '--socket', b.socket], env);
    await notify.waitFor(hasKey('READY=1'), 15_000, 'READY=1');
    // The file says warn; UDSBUS_LOG_LEVEL=info wins, so the info line is there, with the env's values.
    const started = JSON.parse(await err.waitFor(msg('recording subscriber ready'), 5_000)) as Record<string, unknown>;
    expect(started).toMatchObject({ indexFile: join(b.dir, 'from-env.jsonl'), preRollMs: 1000, postRollMs: 2500 });

    writeFileSync(config, JSON.stringify({ indexFile: join(b.dir, 'from-file.jsonl'), logLevel: 'warn', preRollMs: 3000 }));
    child.kill('SIGHUP');
    // logLevel stays info (the environment still wins over the file): the reload line is logged.
    const reload = JSON.parse(await err.waitFor(evt('reload'), 10_000, 'the reload line')) as { applied: string[]; needsRestart: string[] };
    expect(reload).toMatchObject({ applied: [], needsRestart: ['preRollMs'] });
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    await notify.waitFor(hasKey('STOPPING=1'), 5_000, 'STOPPING=1');

    // The flag beats the environment: at --log-level warn the info line never comes.
    const quiet = component(['recording', '--config', config, '--socket', b.socket, '--log-level', 'warn'], env);
    await notify.waitForCount(hasKey('READY=1'), 3, 15_000); // start, reload, this start
    quiet.child.kill('SIGTERM');
    expect(await exited(quiet.child)).toBe(0);
    expect(quiet.err.all.filter((l) => l.includes('"level":30'))).toEqual([]);
  });

  it('onvif: READY once connected with its cameras counted, SIGHUP applies logLevel from the file and names rpcQueue as needing a restart, STOPPING on SIGTERM', async () => {
    const { startRig, idOf } = await import('./onvif-publisher/helpers.js');
    const rig = await startRig(1, { name: 'svc', password: 'Svc-Secret-1' });
    reaper.add(() => rig.close());
    const sim = rig.sims[0]!;
    const notifyPath = join(rig.bus.dir, 'notify.sock');
    const notify = await notifyListener(reaper, notifyPath);
    const config = join(rig.bus.dir, 'onvif.jsonc');
    const write = (logLevel: string, rpcQueue: string) =>
      writeFileSync(config, `{\n  // comments are fine\n  "logLevel": "${logLevel}",\n  "rpcQueue": "${rpcQueue}",\n  "cameras": [{ "host": "127.0.0.1", "port": ${sim.port}, "username": "${sim.username}", "passwordEnv": "CAM_PW" }],\n}\n`);
    write('warn', 'q1');
    const { child, err } = component(['onvif', '--config', config, '--socket', rig.bus.socket], { NOTIFY_SOCKET: notifyPath, CAM_PW: sim.password });
    const ready = JSON.parse(await notify.waitFor(hasKey('READY=1'), 15_000, 'READY=1')) as string[];
    expect(ready).toContain(`STATUS=connected to ${rig.bus.socket}; 1 cameras configured`);
    await rig.rec.status(idOf(sim), { state: 'online' }, 20_000);
    expect(err.all.some((l) => l.includes('"level":30'))).toBe(false); // warn, from the file

    write('info', 'q2');
    child.kill('SIGHUP');
    const reload = JSON.parse(await err.waitFor(evt('reload'), 10_000, 'the reload line')) as { applied: string[]; needsRestart: string[] };
    expect(reload).toMatchObject({ applied: ['logLevel'], needsRestart: ['rpcQueue'] });
    await notify.waitForCount(hasKey('READY=1'), 2, 5_000);
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    await notify.waitFor(hasKey('STOPPING=1'), 5_000, 'STOPPING=1');
    await err.waitFor(msg('stopping'), 5_000, 'the info line "stopping", now that the level is info');
    expect(err.all.join('\n')).not.toContain('Svc-Secret-1');
  });

  it('a bad UDSBUS_* value is refused before connecting, naming the variable (exit 7, CONFIG)', async () => {
    const b = await bus();
    const config = join(b.dir, 'recording.json');
    writeFileSync(config, JSON.stringify({ indexFile: join(b.dir, 'i.jsonl') }));
    const run = (env: NodeJS.ProcessEnv, extra: string[] = []) => runCli(['run', 'recording', '--config', config, '--socket', b.socket, ...extra], { env: { UDSBUS_SOCKET: '', UDSBUS_LOG_LEVEL: '', ...env } });
    const notNumber = await run({ UDSBUS_PRE_ROLL_MS: 'soon' });
    expect(notNumber.code).toBe(7);
    expect(notNumber.stderr).toMatch(/^udsbus run recording: invalid environment:\n {2}UDSBUS_PRE_ROLL_MS: .*Expected integer/);
    const level = await run({ UDSBUS_LOG_LEVEL: 'loud' });
    expect(level).toMatchObject({ code: 7, stderr: expect.stringContaining('UDSBUS_LOG_LEVEL: Expected one of') });
    // A cross-key check that fails because of a variable names it.
    const cross = await run({ UDSBUS_MAX_DURATION_MS: '1000' });
    expect(cross).toMatchObject({ code: 7, stderr: expect.stringContaining('/maxDurationMs: must be longer than preRollMs (5000) (from UDSBUS_MAX_DURATION_MS)') });
    const flag = await run({}, ['--log-level', 'loud']);
    expect(flag).toMatchObject({ code: 7, stderr: 'udsbus run recording: --log-level must be one of fatal, error, warn, info, debug, trace, silent, got "loud"\n' });
    expect(b.broker.broker.getStats().connections).toBe(0);
  });
});

describe('every component shares the service behaviour', () => {
  /** `udsbus run <name>` as the CLI builds it: its own options, then --socket and --log-level from run.ts. */
  async function commands(): Promise<Map<string, Command>> {
    const { Command } = await import('commander');
    const run = new Command('run');
    await addComponents(run);
    return new Map(run.commands.map((c) => [c.name(), c]));
  }

  it('every flag of every component is a config key (so also UDSBUS_<KEY>); every component has socket and logLevel', async () => {
    const cmds = await commands();
    expect([...cmds.keys()].sort()).toEqual(Object.keys(COMPONENTS).sort());
    for (const [name, load] of Object.entries(COMPONENTS)) {
      const c = await load();
      const keys = await c.configKeys();
      expect(keys, name).toEqual(expect.arrayContaining(['socket', 'logLevel', 'name']));
      // --expect-broker-uid is the connection's, not the component's: UDSBUS_EXPECT_BROKER_UID sets it (SECURITY.md).
      const flags = cmds.get(name)!.options.map((o) => o.attributeName()).filter((a) => a !== 'help' && a !== 'config' && a !== 'expectBrokerUid');
      const mapped = { socket: 'socket', logLevel: 'logLevel', ...c.flagKeys };
      expect(flags.filter((f) => !(f in mapped)), `${name}: flags without a config key`).toEqual([]);
      for (const path of Object.values(mapped)) expect(keys, `${name}: ${path}`).toContain(path.split(/[.[]/)[0]);
      expect(keys.map(envName), name).toContain('UDSBUS_LOG_LEVEL');
    }
  });

  it('docs/configuration.md names every component variable', async () => {
    const doc = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
    for (const [name, load] of Object.entries(COMPONENTS)) {
      const missing = (await (await load()).configKeys()).map(envName).filter((v) => !doc.includes(`\`${v}\``));
      expect(missing, name).toEqual([]);
    }
  });

  it('every component reads UDSBUS_<KEY> over its file: strings as they are, the rest as JSON', async () => {
    const { dir, cleanup } = tempDir('udsbus-comp-env-');
    reaper.add(cleanup);
    const file = (name: string, body: object) => {
      const f = join(dir, `${name}.json`);
      writeFileSync(f, JSON.stringify(body));
      return f;
    };
    const env = { UDSBUS_NAME: 'from-env', UDSBUS_LOG_LEVEL: 'debug' };
    const services = {
      recording: [(await import('../subscribers/recording/run.js')).recordingService, { indexFile: join(dir, 'i.jsonl') }],
      alerting: [(await import('../subscribers/alerting/run.js')).alertingService, { rules: [{ id: 'r', topic: 'a.b' }] }],
      audit: [(await import('../subscribers/audit/run.js')).auditService, { dir }],
      bridge: [(await import('../subscribers/bridge/run.js')).bridgeService, { site: 's', prefix: 'p', mqtt: { url: 'mqtt://127.0.0.1:1' } }],
      dashboard: [(await import('../subscribers/dashboard/run.js')).dashboardService(), {}],
    } as const;
    for (const [name, [def, body]] of Object.entries(services)) {
      const loaded = (def.load as (f: string, e: NodeJS.ProcessEnv) => { name?: string; logLevel?: string })(file(name, { name: 'from-file', ...body }), env);
      expect(loaded, name).toMatchObject({ name: 'from-env', logLevel: 'debug' });
    }
    const { commandLineConfig } = await import('../publishers/onvif/cli.js');
    const onvif = commandLineConfig({ socket: undefined, defaultSocket: '/x.sock', logLevel: undefined, config: file('onvif', { name: 'from-file', cameras: [] }) }, () => {}, {
      ...env,
      UDSBUS_CAMERAS: '[{"host":"192.0.2.1"}]',
    });
    expect(onvif.options).toMatchObject({ name: 'from-env', cameras: [{ host: '192.0.2.1' }] });
    expect(onvif.logLevel).toBe('debug');
    expect(() => commandLineConfig({ socket: undefined, defaultSocket: '/x.sock', logLevel: undefined }, () => {}, { UDSBUS_CAMERAS: '{"host":1}' })).toThrow(/UDSBUS_CAMERAS: Expected array/);
  });
});
