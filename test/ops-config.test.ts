/**
 * The broker's config file and its layering: JSON with comments, closed schema, errors at
 * file:line:column, `UDSBUS_*` overrides, flag > env > file, `udsbus config check`, and a test
 * that every broker option is a setting documented in docs/configuration.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../subscribers/common/config.js';
import { BROKER_SETTINGS, envName, mergeSettings, settingsFromEnv } from '../ops/broker-config.js';
import { parseBrokerConfig } from '../ops/config-file.js';
import { ROOT, tempDir } from './helpers/harness.js';
import { runToEnd, startCli } from './helpers/cli.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function problems(text: string): string[] {
  try {
    parseBrokerConfig(text, 'b.jsonc');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message.split('\n').slice(1).map((l) => l.trim());
  }
  throw new Error('expected the config to be refused');
}

describe('config file', () => {
  it('accepts comments and trailing commas', () => {
    const s = parseBrokerConfig('{\n  // line comment\n  "maxConnections": 10, /* block\n comment */\n  "strict": ["cam.>",],\n  "$schema": "x",\n}\n', 'b.jsonc');
    expect(s).toEqual({ maxConnections: 10, strict: ['cam.>'] });
  });

  it('refuses unknown keys and bad values, each at its own file:line:column (after multi-line comments)', () => {
    expect(problems('{\n  /* a\n     b */\n  "maxConection": 5,\n  "fsync": "sometimes",\n  "mode": "777x"\n}')).toEqual([
      'b.jsonc:4:3: /maxConection: unknown setting (did you mean "maxConnections"?)',
      'b.jsonc:5:3: /fsync: Expected one of "always", "batch", "never"',
      expect.stringMatching(/^b\.jsonc:6:3: \/mode: /),
    ]);
  });

  it('checks what the schema cannot: topic patterns and listen addresses, at their lines', () => {
    expect(problems('{\n  "strict": ["cam.>", "bad..pattern"],\n  "metrics": "0.0.0.0:9464",\n  "tcp": "host:port"\n}')).toEqual([
      expect.stringMatching(/^b\.jsonc:2:23: \/strict\/1: "bad\.\.pattern" is not a valid topic pattern/),
      'b.jsonc:3:3: /metrics: "0.0.0.0" is not a loopback address: metrics are served on 127.0.0.1, ::1 or a Unix socket only',
      'b.jsonc:4:3: /tcp: expected "PORT" or "HOST:PORT", got "host:port"',
    ]);
  });

  it('reports a syntax error with its line', () => {
    expect(problems('{\n  "maxConnections": 5\n  "grace": 1\n}')[0]).toMatch(/^b\.jsonc:3:\d+: \/: not valid JSON/);
  });

  it('env: UDSBUS_<UPPER_SNAKE> for every key; a bad value names the variable', () => {
    expect(envName('maxConnections')).toBe('UDSBUS_MAX_CONNECTIONS');
    expect(envName('socket')).toBe('UDSBUS_SOCKET');
    const r = settingsFromEnv({ UDSBUS_MAX_CONNECTIONS: '7', UDSBUS_STRICT: 'a.>, b.>', UDSBUS_QUIET: 'yes', UDSBUS_GRACE: 'soon' });
    expect(r.settings).toEqual({ maxConnections: 7, strict: ['a.>', 'b.>'], quiet: true });
    expect(r.problems).toEqual(['UDSBUS_GRACE: grace must be a whole number ≥ 0, got "soon"']);
    expect(mergeSettings({ maxConnections: 1, grace: 5 }, { maxConnections: 2 }, { maxConnections: 3 })).toEqual({ maxConnections: 3, grace: 5 });
  });

  it('every `udsbus broker` option is a setting, and every setting is in docs/configuration.md', async () => {
    const help = (await runToEnd(['broker', '--help'])).stdout;
    const flags = [...help.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!).filter((f) => !['--help', '--config'].includes(f));
    const settingFlags = BROKER_SETTINGS.map((s) => /--[a-z-]+/.exec(s.flag)![0]);
    expect(flags.sort()).toEqual([...settingFlags].sort());
    const doc = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');
    for (const s of BROKER_SETTINGS) {
      expect(doc, s.key).toContain(`| \`${s.key}\` | \`${s.flag.replace(/^-\w, /, '').replace('|', '\\|')}\` | \`${envName(s.key)}\` |`);
    }
  });
});

describe('udsbus config check and the broker', () => {
  it('config check: ok with the effective settings, env applied and named; 1 with file:line problems', async () => {
    const { dir, cleanup } = tempDir('udsbus-cfg-');
    cleanups.push(cleanup);
    const good = join(dir, 'good.jsonc');
    writeFileSync(good, '{\n  // ok\n  "maxConnections": 5,\n  "logLevel": "debug",\n}\n');
    const ok = await runToEnd(['config', 'check', good], { env: { UDSBUS_MAX_CONNECTIONS: '7' } });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(`${good}: ok\n  maxConnections = 7 (from UDSBUS_MAX_CONNECTIONS)\n  logLevel = "debug"`);
    const noEnv = await runToEnd(['config', 'check', '--no-env', '--json', good], { env: { UDSBUS_MAX_CONNECTIONS: '7' } });
    expect(JSON.parse(noEnv.stdout)).toEqual({ maxConnections: 5, logLevel: 'debug' });
    const bad = join(dir, 'bad.jsonc');
    writeFileSync(bad, '{\n  "maxConnections": -1,\n  "colour": "red"\n}\n');
    const r = await runToEnd(['config', 'check', bad]);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain(`${bad}:2:3: /maxConnections:`);
    expect(r.stderr).toContain(`${bad}:3:3: /colour: Unexpected property`);
  });

  it('the broker takes option > environment > file', async () => {
    const { dir, cleanup } = tempDir('udsbus-cfg-');
    cleanups.push(cleanup);
    const file = join(dir, 'broker.jsonc');
    writeFileSync(file, `{ "socket": "${join(dir, 'bus.sock')}", "maxConnections": 5, "grace": 100, "quiet": true }`);
    const started = async (args: string[], env: NodeJS.ProcessEnv) => {
      const b = startCli(['broker', ...args], { env });
      cleanups.push(async () => {
        b.kill('SIGKILL');
        await b.exited;
      });
      const line = JSON.parse(await b.waitOut((l) => l.includes('"evt":"start"'), 15_000)) as Record<string, unknown>;
      b.kill('SIGTERM');
      expect((await b.exited).code).toBe(0);
      expect(b.err).toEqual([]); // quiet came from the file
      return line;
    };
    expect(await started(['--config', file], {})).toMatchObject({ maxConnections: 5, config: file, socket: join(dir, 'bus.sock') });
    expect(await started([], { UDSBUS_CONFIG: file, UDSBUS_MAX_CONNECTIONS: '7' })).toMatchObject({ maxConnections: 7 });
    expect(await started(['--config', file, '--max-connections', '9'], { UDSBUS_MAX_CONNECTIONS: '7' })).toMatchObject({ maxConnections: 9 });
  });

  it('the broker refuses to start on an invalid file, naming file:line, exit 7 (invalid configuration)', async () => {
    const { dir, cleanup } = tempDir('udsbus-cfg-');
    cleanups.push(cleanup);
    const file = join(dir, 'broker.jsonc');
    writeFileSync(file, '{\n  "keepAlive": 5\n}');
    const r = await runToEnd(['broker', '--config', file]);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain(`${file}:2:3: /keepAlive: unknown setting (did you mean "keepalive"?)`);
  });
});

describe('packaging/systemd', () => {
  const unit = (name: string) => readFileSync(join(ROOT, 'packaging/systemd', name), 'utf8');
  const key = (text: string, k: string) => [...text.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]);

  it('the socket unit owns the system socket path, mode 0660 and group udsbus; the service is Type=notify with NotifyAccess=main and reloads with SIGHUP', async () => {
    const { SYSTEM_SOCKET } = await import('../bus/paths.js');
    const sock = unit('udsbus.socket');
    expect(key(sock, 'ListenStream')).toEqual([SYSTEM_SOCKET]);
    expect(key(sock, 'SocketMode')).toEqual(['0660']);
    expect(key(sock, 'SocketGroup')).toEqual(['udsbus']);
    const svc = unit('udsbus.service');
    expect(key(svc, 'Type')).toEqual(['notify']);
    expect(key(svc, 'NotifyAccess')).toEqual(['main']);
    expect(key(svc, 'ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(key(svc, 'ExecStart')[0]).toMatch(/^\/usr\/bin\/udsbus broker --config \/etc\/udsbus\/broker\.jsonc/);
    expect(unit('udsbus.sysusers.conf')).toMatch(/^g udsbus -$/m);
    const component = unit('udsbus@.service');
    expect(key(component, 'ExecStart')[0]).toBe('/usr/bin/udsbus run %i --config /etc/udsbus/%i.json --socket /run/udsbus/bus.sock');
    // Components report readiness and reload like the broker (test/ops-components.test.ts runs them).
    expect(key(component, 'Type')).toEqual(['notify']);
    expect(key(component, 'NotifyAccess')).toEqual(['main']);
    expect(key(component, 'ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(key(component, 'WatchdogSec')).toEqual(key(svc, 'WatchdogSec'));
  });

  it('the unit files shown in the README say what the files in packaging/systemd say', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## On an appliance'));
    const block = /```ini\n([\s\S]*?)```/.exec(section)![1]!;
    const shown = block.split(/^# (?=udsbus)/m).filter((p) => p.trim() !== '');
    expect(shown.map((p) => p.split('\n')[0])).toEqual(['udsbus.socket', 'udsbus.service', 'udsbus@.service']);
    for (const part of shown) {
      const [name, ...lines] = part.split('\n');
      const file = unit(name!).split('\n');
      for (const l of lines.filter((x) => /^[A-Za-z]+=/.test(x))) expect(file, `${name}: ${l}`).toContain(l);
    }
  });

  it('the packaged broker.jsonc passes udsbus config check', async () => {
    const r = await runToEnd(['config', 'check', '--no-env', join(ROOT, 'packaging/systemd/broker.jsonc')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
