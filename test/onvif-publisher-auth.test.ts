/**
 * Authentication against simulated cameras, through the real `onvif` library: WS-Security or
 * HTTP Digest per camera (auto with fallback, or configured), hard backoff on refused logins,
 * `auth-failed` after a limit, and statuses for cameras whose id is not known yet.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../publishers/onvif/index.js';
import { toTopicToken } from '../schemas/index.js';
import { idOf, specOf, startRig, type Rig } from './onvif-publisher/helpers.js';

let rig: Rig | undefined;

afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const AUTH_FAST = { authBackoffInitialMs: 100, authBackoffMaxMs: 200, authMaxFailures: 3 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('onvif publisher authentication', () => {
  it('auto: a digest-only camera that refuses the WS-Security header is reached with HTTP Digest', async () => {
    rig = await startRig(1, { name: 'digest-only', authSchemes: 'digest' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    await rig.startPublisher({ timing: AUTH_FAST });
    await rig.rec.status(id, { state: 'online' });
    // Events flow over Digest too.
    const from = rig.rec.mark;
    sim!.emit({ kind: 'motion', state: true });
    await rig.rec.event(id, 'motion', (p) => p['active'] === true && p['initial'] === false, 10_000, from);
    // One refused WS-Security login, then Digest; the scheme is kept: reconnects (here after a
    // reboot) do not try WS-Security again.
    const refused = sim!.stats().tokenRefusals;
    expect(refused).toBeGreaterThan(0);
    const mark = rig.rec.mark;
    await sim!.reboot();
    await rig.rec.event(id, 'motion', (p) => p['initial'] === true, 10_000, mark);
    expect(sim!.stats().tokenRefusals).toBe(refused);
  });

  it('configured digest never sends the WS-Security header; configured ws-security does not fall back', async () => {
    rig = await startRig(2, (i) => ({ name: `cam-${i}`, authSchemes: 'digest' }));
    const [digest, wsse] = rig.sims;
    await rig.startPublisher({ timing: AUTH_FAST }, [
      specOf(digest!, { auth: 'digest' }),
      specOf(wsse!, { auth: 'ws-security', name: 'Garage' }),
    ]);
    await rig.rec.status(idOf(digest!), { state: 'online' });
    expect(digest!.stats().tokenRefusals).toBe(0);
    // The WS-Security-only camera gives up and says so under a provisional id from its name.
    const failed = await rig.rec.status('garage', { state: 'auth-failed' }, 10_000);
    expect(failed.payload).toMatchObject({ code: 'unauthorized', name: 'Garage', address: `127.0.0.1:${wsse!.port}` });
    // Only WS-Security was tried: no Digest challenge was ever answered.
    expect(wsse!.stats().tokenRefusals).toBe(wsse!.stats().authFailures);
  });

  it('refused logins back off, stop after the limit with auth-failed under the configured address, and are never retried', async () => {
    rig = await startRig(1, { name: 'locked' });
    const [sim] = rig.sims;
    const address = `127.0.0.1:${sim!.port}`;
    const provisional = toTopicToken(`127.0.0.1-${sim!.port}`);
    const pub = await rig.startPublisher({ timing: AUTH_FAST }, [specOf(sim!, { password: 'wrong' })]);
    const first = await rig.rec.status(provisional, { state: 'error' });
    expect(first.payload).toMatchObject({ code: 'unauthorized', address });
    const gaveUp = await rig.rec.status(provisional, { state: 'auth-failed' });
    expect(gaveUp.payload).toMatchObject({ code: 'unauthorized', address });
    // 3 refused logins (auto tries both schemes per round) with a backoff between rounds of at
    // least the initial delay less its 20 % jitter (publishers/onvif/backoff.ts), measured by the
    // publisher's own stamps: when the test receives them depends on the machine's load.
    const at = (m: { payload: unknown }) => Date.parse((m.payload as { time: string }).time);
    expect(at(gaveUp) - at(first)).toBeGreaterThanOrEqual(AUTH_FAST.authBackoffInitialMs * 0.8);
    const refused = sim!.stats().authFailures;
    await sleep(600);
    expect(sim!.stats().authFailures).toBe(refused);
    expect(pub.stats().online).toBe(0);
    expect(rig.rec.invalid).toEqual([]);
  });

  it('a camera that lets us in after refusing: the provisional status is cleared and the real one carries the address', async () => {
    rig = await startRig(1, { name: 'late-ok' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    const provisional = 'porch';
    // Refuses the first logins (both schemes of a round and the next), then accepts.
    sim!.fault('wrongPassword', { times: 6 });
    await rig.startPublisher({ timing: { ...AUTH_FAST, authMaxFailures: 20 } }, [specOf(sim!, { name: 'Porch' })]);
    await rig.rec.status(provisional, { state: 'error', code: 'unauthorized' });
    const online = await rig.rec.status(id, { state: 'online' }, 15_000);
    expect(online.payload).toMatchObject({ name: 'Porch', address: `127.0.0.1:${sim!.port}` });
    await rig.rec.status(provisional, 'cleared');
  });
});

describe('auth configuration', () => {
  it('accepts auto, ws-security and digest per camera, and rejects anything else', () => {
    const o = parseConfig({ cameras: [{ host: 'a', auth: 'digest' }, { host: 'b', auth: 'ws-security' }, { host: 'c' }] }, '/', {});
    expect(o.cameras?.map((c) => c.auth)).toEqual(['digest', 'ws-security', undefined]);
    expect(() => parseConfig({ cameras: [{ host: 'a', auth: 'basic' }] }, '/', {})).toThrow(ConfigError);
    expect(() => parseConfig({ cameras: [{ host: 'a', auth: 'basic' }] }, '/', {})).toThrow(/auth must be one of auto, ws-security, digest/);
    expect(parseConfig({ timing: { authMaxFailures: 3, authBackoffInitialMs: 1000 } }, '/', {}).timing).toEqual({ authMaxFailures: 3, authBackoffInitialMs: 1000 });
  });
});
