/**
 * The pacer's verdicts, driven through its `Paced` seam with a progress counter the test moves
 * (the process-level behaviour is in pacing.test.ts): a subscriber that reads nothing for stallMs
 * is found stuck and lets its publishers go; one that reads again paces them again, before its
 * queue is empty; one that keeps reading is never stuck.
 */
import { describe, expect, it } from 'vitest';
import { Pacer, PacingState, type Paced } from '../bus/broker/pacing.js';

class Conn implements Paced {
  readonly pacing = new PacingState();
  paused = false;
  taken = 0;
  constructor(readonly cid: string) {}
  pauseReading(): void {
    this.paused = true;
  }
  resumeReading(): void {
    this.paused = false;
  }
  progressMark(): number {
    return this.taken;
  }
}

const STALL = 30;
/** Resolves once the pacer's timer for `sub` has fired and its check phase has run. */
const pastWindow = () => new Promise((r) => setTimeout(() => setImmediate(() => setImmediate(r)), STALL * 2));

describe('pacer verdicts', () => {
  it('holds a publisher while a subscriber is behind, and lets it go when the queue is empty', () => {
    const pacer = new Pacer(STALL);
    const [pub, sub] = [new Conn('pub'), new Conn('sub')];
    pacer.hold(pub, sub);
    expect(pub.paused).toBe(true);
    pacer.relieved(sub);
    expect(pub.paused).toBe(false);
    expect(pacer.stalls).toBe(0);
  });

  it('a subscriber that reads nothing for stallMs is stuck: its publishers go, new deliveries hold no one', async () => {
    const pacer = new Pacer(STALL);
    const [pub, sub] = [new Conn('pub'), new Conn('sub')];
    pacer.hold(pub, sub);
    await pastWindow();
    expect(sub.pacing.stuck).toBe(true);
    expect(pub.paused).toBe(false);
    expect(pacer.stalls).toBe(1);
    pacer.hold(pub, sub); // still nothing read
    expect(pub.paused).toBe(false);
  });

  it('a stuck subscriber that reads again paces its publishers again, though its queue is not empty', async () => {
    const pacer = new Pacer(STALL);
    const [pub, sub] = [new Conn('pub'), new Conn('sub')];
    pacer.hold(pub, sub);
    await pastWindow();
    expect(sub.pacing.stuck).toBe(true);
    sub.taken += 4096; // its peer took bytes off the socket
    pacer.hold(pub, sub);
    expect(sub.pacing.stuck).toBe(false);
    expect(pub.paused).toBe(true);
    pacer.relieved(sub);
    expect(pub.paused).toBe(false);
  });

  it('a slow subscriber that keeps reading is never found stuck', async () => {
    const pacer = new Pacer(STALL);
    const [pub, sub] = [new Conn('pub'), new Conn('sub')];
    pacer.hold(pub, sub);
    const reading = setInterval(() => (sub.taken += 100), 5);
    for (let i = 0; i < 4; i++) await pastWindow();
    clearInterval(reading);
    expect(sub.pacing.stuck).toBe(false);
    expect(pub.paused).toBe(true);
    expect(pacer.stalls).toBe(0);
    pacer.closed(sub);
    expect(pub.paused).toBe(false);
  });
});
