/**
 * An in-memory stream pair: what one end writes, the other reads, with backpressure (a write's
 * callback waits until the reader has asked for more). `Broker.handle(a)` on one end and
 * `connect({ dial })` on the other run the whole protocol in one process without a socket — for
 * broker-core tests where process boundaries do not matter, and for embedding.
 *
 * @example
 * const [server, client] = memoryPair();
 * broker.handle(server, 'memory');
 * const bus = await connect({ dial: () => client, reconnect: false });
 */
import { Buffer } from 'node:buffer';
import { Duplex } from 'node:stream';

class End extends Duplex {
  peer!: End;
  private waiting: ((err?: Error | null) => void) | undefined;

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.peer.destroyed) return done(new Error('the other end is closed'));
    // Hand over a copy: the writer may reuse its buffer once the callback ran.
    if (this.peer.push(Buffer.from(chunk))) done();
    else this.peer.waiting = done;
  }

  override _final(done: (err?: Error | null) => void): void {
    this.peer.push(null);
    done();
  }

  override _read(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.(new Error('closed'));
    // The other end sees the close the way a socket's peer would: end of stream, then close.
    if (!this.peer.destroyed) {
      this.peer.push(null);
      this.peer.destroy();
    }
    done(err);
  }
}

/** Two connected ends: bytes written to one are read from the other. */
export function memoryPair(): [Duplex, Duplex] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
