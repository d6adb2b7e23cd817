/**
 * The broker's connections from accept to close: admission against maxConnections,
 * maxPendingConnections and the uid's connection quota, the table of open connections, the
 * deadlines a periodic sweep enforces (handshake, incomplete frame, keepalive: PROTOCOL.md §5,
 * §11), and shutdown. Kept apart from routing, which never needs to know who is still waiting.
 */
import type { Limits } from '../protocol/limits.js';
import { identityOf, type AccessControl } from './access.js';
import type { Connection } from './connection.js';

export class ConnectionTable {
  /** Connections past their hello, by cid. */
  readonly open = new Map<string, Connection>();
  /** Accepted connections still waiting for their hello. */
  private readonly pending = new Set<Connection>();
  private cidSeq = 0;
  /** Set by closeAll(): nothing is admitted any more and no will fires. */
  closing = false;

  constructor(
    private readonly limits: Readonly<Limits>,
    private readonly bootId: string,
    private readonly frameTimeoutMs: number,
    private readonly access: AccessControl | undefined,
  ) {}

  nextCid(): string {
    return `${this.bootId}-${++this.cidSeq}`;
  }

  /** A new connection: kept, and refused at once (it fails itself) when a limit is reached. */
  accept(conn: Connection): void {
    const l = this.limits;
    // Connections count from accept, not from hello: one that never says hello still holds a
    // file descriptor, so it counts against maxConnections, maxPendingConnections and its uid.
    const full = this.pending.size + this.open.size >= l.maxConnections;
    const tooManyPending = this.pending.size >= l.maxPendingConnections;
    this.pending.add(conn);
    if (this.closing) conn.fail('SHUTTING_DOWN', 'the broker is shutting down');
    else if (full) conn.fail('TOO_MANY_CONNECTIONS', `the broker is at maxConnections (${l.maxConnections}, counting ${this.pending.size - 1} without hello)`);
    else if (tooManyPending) conn.fail('TOO_MANY_CONNECTIONS', `${l.maxPendingConnections} connections are already waiting for their hello (maxPendingConnections)`);
    else if (this.access !== undefined) {
      const uid = conn.peer.uid;
      const usage = this.access.usageFor(uid);
      if (usage.connections >= usage.quota.connections) {
        conn.fail('QUOTA_EXCEEDED', `uid ${uid ?? 'anonymous'} is at its connections quota (${usage.quota.connections})`);
      } else {
        usage.connections++;
        conn.usage = usage;
        conn.out.usage = usage;
      }
    }
  }

  /** Admission after a valid hello; false when the connection was refused. */
  admit(conn: Connection): boolean {
    if (this.closing) {
      conn.fail('SHUTTING_DOWN', 'the broker is shutting down');
      return false;
    }
    if (this.open.size >= this.limits.maxConnections) {
      conn.fail('TOO_MANY_CONNECTIONS', `the broker is at maxConnections (${this.limits.maxConnections})`);
      return false;
    }
    // The uid's connection was counted at accept.
    if (this.access !== undefined) conn.perms = this.access.bind(identityOf(conn.peer));
    return true;
  }

  opened(conn: Connection): void {
    this.pending.delete(conn);
    this.open.set(conn.cid, conn);
  }

  /** Forget an ended connection and give back its uid's usage; true when it had been open. */
  remove(conn: Connection): boolean {
    this.pending.delete(conn);
    if (conn.usage !== undefined) {
      conn.usage.connections--;
      conn.usage.subscriptions -= conn.subs.size;
    }
    return this.open.delete(conn.cid);
  }

  /** Fail every connection past one of its deadlines; ping the ones that have been quiet. */
  sweep(now: number): void {
    const { handshakeTimeoutMs } = this.limits;
    for (const conn of this.pending) {
      if (conn.state === 'handshake' && now - conn.connectedAt > handshakeTimeoutMs) {
        conn.fail('HANDSHAKE_TIMEOUT', `no hello within ${handshakeTimeoutMs} ms`);
      }
    }
    for (const conn of [...this.pending, ...this.open.values()]) {
      if (conn.partialSince !== undefined && now - conn.partialSince > this.frameTimeoutMs) {
        conn.fail('FRAME_TIMEOUT', `a frame stayed incomplete for more than ${this.frameTimeoutMs} ms`);
      }
    }
    for (const conn of this.open.values()) {
      if (conn.state !== 'open') continue;
      if (conn.gotFrame) {
        conn.gotFrame = false;
        conn.lastRecv = now;
      }
      const idle = now - conn.lastRecv;
      if (idle > 2 * conn.keepaliveMs) {
        conn.fail('KEEPALIVE_TIMEOUT', `no frame for ${idle} ms (keepalive ${conn.keepaliveMs} ms)`);
      } else if (idle > conn.keepaliveMs && !conn.pingOutstanding) {
        conn.pingOutstanding = true;
        conn.sendFrame({ op: 'ping' });
      }
    }
  }

  /**
   * Shutdown: every connection gets what is queued for it (within its close grace), then
   * SHUTTING_DOWN, then the close. Resolves when all of them are gone.
   */
  async closeAll(): Promise<void> {
    this.closing = true;
    const all = [...this.pending, ...this.open.values()];
    await Promise.all(
      all.map(
        (conn) =>
          new Promise<void>((resolve) => {
            if (conn.state === 'closed') return resolve();
            conn.stream.once('close', () => resolve());
            conn.fail('SHUTTING_DOWN', 'the broker is shutting down');
          }),
      ),
    );
  }
}
