/**
 * Issue 16: configuration errors have their own exit code (7), distinct from "cannot connect"
 * (2) and usage errors (1). Real `udsbus` processes, each refused before it listens or connects.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Exit } from '../cli/exit-codes.js';
import { startBroker } from '../bus/index.js';
import { loadPeerCred } from '../bus/security/peercred.js';
import { runCli, tempDir } from './helpers/harness.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function dir(): string {
  const t = tempDir('udsbus-exit-');
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('exit code 7: invalid configuration', () => {
  it('is documented in udsbus --help and udsbus broker --help', async () => {
    expect(Exit.CONFIG).toBe(7);
    expect((await runCli(['--help'])).stdout).toMatch(/\n {2}7 {2}invalid configuration/);
    expect((await runCli(['broker', '--help'])).stdout).toMatch(/\n {2}7 {2}invalid configuration: config file, option or UDSBUS_\* value, or ACL file/);
  });

  it('udsbus broker: an ACL file that does not parse exits 7, a socket in use still 2', async () => {
    const d = dir();
    const acl = join(d, 'acl');
    writeFileSync(acl, 'allow user 1000 publsh camera.>\n');
    const r = await runCli(['broker', '-q', '--socket', join(d, 'bus.sock'), '--acl', acl]);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain(peerCredReason() ?? 'invalid ACL file');
    const b = await startBroker({ socket: join(d, 'busy.sock') });
    try {
      const busy = await runCli(['broker', '-q', '--socket', join(d, 'busy.sock')]);
      expect(busy.code).toBe(2);
      expect(busy.stderr).toMatch(/already listening/);
    } finally {
      await b.close();
    }
  });

  it('udsbus broker: a bad option value and a bad UDSBUS_* value exit 7; an unknown option is a usage error (1)', async () => {
    const d = dir();
    const socket = join(d, 'bus.sock');
    const flag = await runCli(['broker', '--socket', socket, '--max-connections', 'lots']);
    expect(flag.code).toBe(7);
    expect(flag.stderr).toMatch(/--max-connections/);
    const env = await runCli(['broker', '--socket', socket], { env: { UDSBUS_MAX_CONNECTIONS: 'lots' } });
    expect(env.code).toBe(7);
    expect(env.stderr).toContain('UDSBUS_MAX_CONNECTIONS');
    expect((await runCli(['broker', '--socket', socket, '--no-such-flag'])).code).toBe(1);
  });

  it('udsbus config check and udsbus run exit 7 on an invalid file', async () => {
    const d = dir();
    const bad = join(d, 'broker.jsonc');
    writeFileSync(bad, '{ "keepalive": "often" }\n');
    const check = await runCli(['config', 'check', bad]);
    expect(check.code).toBe(7);
    expect(check.stderr).toContain(`${bad}:1:3: /keepalive`);
    const sub = join(d, 'audit.json');
    writeFileSync(sub, '{ "dirr": "/tmp" }\n');
    const run = await runCli(['run', 'audit', '--config', sub, '--socket', join(d, 'no.sock')]);
    expect(run.code).toBe(7);
    expect(run.stderr).toContain(sub);
  });
});

/** When the addon is missing, --acl is refused for that reason (also exit 7). */
function peerCredReason(): string | undefined {
  const p = loadPeerCred();
  return p.available ? undefined : 'kernel peer credentials are unavailable';
}
