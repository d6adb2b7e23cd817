/**
 * The small state file of a durable log:
 * - floor: every mid ≤ floor is acknowledged or discarded (the ack mark);
 * - hwm: the highest mid handed out that no segment file may show any more (written whenever the
 *   newest segment is deleted, and on close);
 * - lease: no mid above it has been handed out while the kernel identified by `boot` was running;
 * - boot: /proc/sys/kernel/random/boot_id when written (zeros where unknown).
 *
 * Each write creates a new file `state.<seq, 20 digits>` (60 bytes: magic "UDSS" u32 · version u8 ·
 * 3 zero bytes · seq u64 · floor u64 · hwm u64 · lease u64 · boot 16 bytes · CRC-32 of the first
 * 56 bytes), fsyncs it and the directory, and only then deletes older ones. Open takes the valid file with the highest
 * seq. Compared with one file replaced by write-temp + rename, this lets an asynchronous write
 * still in flight race a synchronous one (on close, or a lease that ran out) without an older
 * rename landing last: order comes from seq, not from which rename finished last. A torn file
 * fails its CRC and the previous one stands.
 */
import { Buffer } from 'node:buffer';
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from './crc32.js';
import { readU64, writeU64 } from './record.js';

const STATE_MAGIC = 0x55445353; // "UDSS"
const STATE_VERSION = 1;
export const STATE_BYTES = 60;
const CRC_AT = 56;

export type LogState = { seq: number; floor: number; hwm: number; lease: number; boot: Buffer };

let cachedBoot: Buffer | undefined;

/**
 * This kernel's boot id (16 bytes), or 16 zero bytes where there is none (not Linux). Within
 * one boot the page cache outlives any process, so whatever a killed process wrote is still read
 * back; only a new boot id means writes may have been lost.
 */
export function currentBootId(): Buffer {
  if (cachedBoot !== undefined) return cachedBoot;
  let id = Buffer.alloc(16);
  try {
    const hex = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replaceAll('-', '');
    if (/^[0-9a-f]{32}$/i.test(hex)) id = Buffer.from(hex, 'hex');
  } catch {
    // Unknown: every restart is treated as a possible power loss.
  }
  cachedBoot = id;
  return id;
}

/** True when `a` names the running kernel's boot (an unknown id never matches). */
export function sameBoot(a: Buffer): boolean {
  const now = currentBootId();
  return a.length === 16 && a.some((b) => b !== 0) && a.equals(now);
}

export function stateName(seq: number): string {
  return `state.${String(seq).padStart(20, '0')}`;
}

export function parseStateName(name: string): number | undefined {
  if (!/^state\.\d{20}$/.test(name)) return undefined;
  const seq = Number(name.slice(6));
  return Number.isSafeInteger(seq) ? seq : undefined;
}

export function encodeState(s: LogState): Buffer {
  const b = Buffer.alloc(STATE_BYTES);
  b.writeUInt32BE(STATE_MAGIC, 0);
  b.writeUInt8(STATE_VERSION, 4);
  writeU64(b, s.seq, 8);
  writeU64(b, s.floor, 16);
  writeU64(b, s.hwm, 24);
  writeU64(b, s.lease, 32);
  s.boot.copy(b, 40, 0, 16);
  b.writeUInt32BE(crc32(b.subarray(0, CRC_AT)), CRC_AT);
  return b;
}

export function decodeState(b: Buffer): LogState | undefined {
  if (b.length !== STATE_BYTES || b.readUInt32BE(0) !== STATE_MAGIC || b.readUInt8(4) !== STATE_VERSION) return undefined;
  if (crc32(b.subarray(0, CRC_AT)) !== b.readUInt32BE(CRC_AT)) return undefined;
  const s = { seq: readU64(b, 8), floor: readU64(b, 16), hwm: readU64(b, 24), lease: readU64(b, 32), boot: Buffer.from(b.subarray(40, 56)) };
  return [s.seq, s.floor, s.hwm, s.lease].every(Number.isFinite) ? s : undefined;
}

/** The newest valid state among `seqs` (file names already parsed), if any. */
export function readLatestState(dir: string, seqs: number[]): LogState | undefined {
  for (const seq of [...seqs].sort((a, b) => b - a)) {
    let s: LogState | undefined;
    try {
      s = decodeState(readFileSync(join(dir, stateName(seq))));
    } catch {
      s = undefined;
    }
    if (s !== undefined && s.seq === seq) return s;
  }
  return undefined;
}

/** Writes and fsyncs one state file and the directory, blocking. */
export function writeStateSync(dir: string, dirFd: number, s: LogState): void {
  const fd = openSync(join(dir, stateName(s.seq)), 'w');
  try {
    writeSync(fd, encodeState(s));
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncSync(dirFd);
}

/** Writes and fsyncs one state file and the directory without blocking the event loop. */
export async function writeStateAsync(dir: string, s: LogState): Promise<void> {
  const fh = await open(join(dir, stateName(s.seq)), 'w');
  try {
    await fh.write(encodeState(s));
    await fh.datasync();
  } finally {
    await fh.close();
  }
  // Opened afresh: the log's own directory handle may be closed under us by close().
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

export function removeStateSync(dir: string, seq: number): void {
  try {
    unlinkSync(join(dir, stateName(seq)));
  } catch {
    // Gone already.
  }
}

export async function removeState(dir: string, seq: number): Promise<void> {
  await unlink(join(dir, stateName(seq))).catch(() => undefined);
}

/** What the log wants on disk: read at the moment of each write. */
export type StateValues = { floor: number; hwm: number; lease: number };

const RETRY_MS = 1000;

/**
 * Keeps a log's state file current. writeNow() blocks (open, close, a lease that ran out, the
 * newest segment deleted); request() writes in the background, coalescing every request made
 * while a write is pending or in flight; flushed() waits for the background writer.
 */
export class StateStore {
  /** The highest lease known to be on disk. */
  leaseDurable = 0;
  private seq: number;
  private durableSeq = 0;
  private readonly known: Set<number>;
  private dirty = false;
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  private waiters: Array<() => void> = [];
  private stopped = false;

  constructor(
    private readonly dir: string,
    private readonly dirFd: number,
    /** Seqs of the state files found at open; all are deleted once a newer one is durable. */
    existing: number[],
    private readonly current: () => StateValues,
  ) {
    this.seq = Math.max(0, ...existing);
    this.known = new Set(existing);
  }

  /** Writes the current values now, blocking; `lease` overrides the current lease. */
  writeNow(lease?: number): void {
    const v = this.current();
    const s: LogState = { seq: ++this.seq, floor: v.floor, hwm: v.hwm, lease: lease ?? v.lease, boot: currentBootId() };
    this.known.add(s.seq);
    writeStateSync(this.dir, this.dirFd, s);
    this.landed(s, true);
  }

  /** Asks for a background write within `delayMs` (0: as soon as possible). */
  request(delayMs: number): void {
    this.dirty = true;
    if (this.stopped || this.busy) return;
    if (this.timer !== undefined) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delayMs);
  }

  /** Resolves once everything requested before this call is on disk. */
  flushed(): Promise<void> {
    if (this.stopped || (!this.dirty && !this.busy)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      if (!this.busy) this.request(0);
    });
  }

  /** Stops background writing and writes a last time, blocking; pending flushed() resolve. */
  close(lease: number): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      this.writeNow(lease);
    } finally {
      this.settle();
    }
  }

  private async run(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    let failed = false;
    try {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        const v = this.current();
        const s: LogState = { seq: ++this.seq, floor: v.floor, hwm: v.hwm, lease: v.lease, boot: currentBootId() };
        this.known.add(s.seq);
        try {
          await writeStateAsync(this.dir, s);
        } catch (err) {
          if (this.stopped) return;
          // Keep the values in memory and try again later. A lease that runs out meanwhile is
          // extended by writeNow(), which then throws the same error to append() if it persists.
          this.dirty = true;
          failed = true;
          process.emitWarning(`durable log ${this.dir}: writing the state file failed: ${(err as Error).message}`, 'DurableLogStateWrite');
          break;
        }
        this.landed(s, false);
      }
    } finally {
      this.busy = false;
      if (!this.stopped && failed) this.request(RETRY_MS);
      else if (!this.dirty || this.stopped) this.settle();
    }
  }

  /** A state file is durable: older ones can go (or it is older than one already durable). */
  private landed(s: LogState, sync: boolean): void {
    this.leaseDurable = Math.max(this.leaseDurable, s.lease);
    if (s.seq < this.durableSeq) {
      // An asynchronous write finished after a newer synchronous one: it is garbage.
      this.known.delete(s.seq);
      void removeState(this.dir, s.seq);
      return;
    }
    this.durableSeq = s.seq;
    for (const k of this.known) {
      if (k >= s.seq) continue;
      this.known.delete(k);
      if (sync) removeStateSync(this.dir, k);
      else void removeState(this.dir, k);
    }
  }

  private settle(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
