/**
 * Snapshots with events, by reference: the publisher asks the simulated camera for its snapshot
 * URI (real `onvif` library), fetches the JPEG over HTTP with Digest auth, keeps it in a bounded
 * spool and puts path, size and sha256 in the event.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../publishers/onvif/index.js';
import { SNAPSHOT_JPEG } from '../publishers/onvif/simulator/snapshot.js';
import { idOf, startRig, type Rig } from './onvif-publisher/helpers.js';

let rig: Rig | undefined;
let dir: string | undefined;

afterEach(async () => {
  await rig?.close();
  rig = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('onvif publisher snapshots', () => {
  it('attaches a snapshot by reference to configured kinds, keeps event order, and bounds the spool', async () => {
    dir = mkdtempSync(join(tmpdir(), 'onvif-snap-'));
    rig = await startRig(1, { name: 'snapper' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    await rig.startPublisher({ snapshots: { dir, kinds: ['motion'], maxFiles: 2 } });
    await rig.rec.status(id, { state: 'online' });
    await rig.rec.event(id, 'input', (p) => p['initial'] === true);
    expect(readdirSync(dir)).toEqual([]); // Initialized states take no snapshot

    let from = rig.rec.mark;
    sim!.emit({ kind: 'motion', state: true });
    sim!.emit({ kind: 'lineCrossing', objectId: 9 });
    const motion = await rig.rec.event(id, 'motion', (p) => p['active'] === true && p['initial'] === false, 10_000, from);
    const snap = (motion.payload as { snapshot: { path: string; size: number; sha256: string } }).snapshot;
    expect(snap).toMatchObject({ size: SNAPSHOT_JPEG.length, sha256: createHash('sha256').update(SNAPSHOT_JPEG).digest('hex') });
    expect(readFileSync(snap.path)).toEqual(SNAPSHOT_JPEG);
    // The line crossing came after the motion and waited for its snapshot; it has none itself.
    const line = await rig.rec.event(id, 'line', () => true, 10_000, from);
    expect(rig.rec.messages.indexOf(line)).toBeGreaterThan(rig.rec.messages.indexOf(motion));
    expect(line.payload).not.toHaveProperty('snapshot');

    // An end takes no snapshot; the spool keeps the newest two files.
    from = rig.rec.mark;
    sim!.emit({ kind: 'motion', state: false });
    const ended = await rig.rec.event(id, 'motion', (p) => p['ended'] === true, 10_000, from);
    expect(ended.payload).not.toHaveProperty('snapshot');
    for (let i = 0; i < 3; i++) {
      from = rig.rec.mark;
      sim!.emit({ kind: 'motion', state: true });
      await rig.rec.event(id, 'motion', (p) => p['active'] === true && p['snapshot'] !== undefined, 10_000, from);
      sim!.emit({ kind: 'motion', state: false });
      await rig.rec.event(id, 'motion', (p) => p['ended'] === true, 10_000, from);
    }
    expect(readdirSync(dir)).toHaveLength(2);
    expect(existsSync(snap.path)).toBe(false);
    expect(rig.rec.invalid).toEqual([]);
  });

  it('reports why a snapshot could not be taken, and still publishes the event', async () => {
    dir = mkdtempSync(join(tmpdir(), 'onvif-snap-'));
    rig = await startRig(1, { name: 'no-snap' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    await sim!.fault('soapFault', { action: 'GetSnapshotUri', reason: 'Snapshots disabled' });
    await rig.startPublisher({ snapshots: { dir, kinds: ['motion'] } });
    await rig.rec.status(id, { state: 'online' });
    const from = rig.rec.mark;
    sim!.emit({ kind: 'motion', state: true });
    const m = await rig.rec.event(id, 'motion', (p) => p['active'] === true && p['initial'] === false, 10_000, from);
    expect(m.payload).toMatchObject({ snapshotError: expect.stringContaining('Snapshots disabled') });
    expect(m.payload).not.toHaveProperty('snapshot');
  });

  it('configuration: spool dir relative to the config file, kinds checked', () => {
    const o = parseConfig({ snapshots: { dir: 'spool', kinds: ['motion', 'doorbell'], maxFiles: 50 } }, '/etc/udsbus', {});
    expect(o.snapshots).toEqual({ dir: '/etc/udsbus/spool', kinds: ['motion', 'doorbell'], maxFiles: 50 });
    expect(() => parseConfig({ snapshots: { dir: 'x', kinds: ['smoke'] } }, '/', {})).toThrow(/snapshots.kinds must be a list of/);
    expect(() => parseConfig({ snapshots: { kinds: ['motion'] } }, '/', {})).toThrow(/snapshots.dir is required/);
  });
});
