/**
 * A connection that outlives the broker: for the long-running commands (tap, stats --watch).
 *
 * Why not the client's own `reconnect: true`: today, while the broker is away, every failed
 * attempt schedules two new ones (the socket's 'error' and its 'close' both retry), so after a
 * restart of a few seconds several connections come up at once, each with the subscriptions,
 * and every message arrives several times (or the broker answers DUPLICATE_SID). Until that is
 * fixed in bus/client, the CLI connects with `reconnect: false` and makes a fresh client itself.
 */
import type { Client } from 'udsbus';
import { connect } from 'udsbus';
import { connectOrExit, explainConnectFailure } from './connect.js';

export type Lifeline = {
  /** The live client, or undefined while reconnecting. */
  current(): Client | undefined;
  /** Stop reconnecting and close the live client (bye). */
  close(): Promise<void>;
};

export type KeepOptions = {
  /** Called with every new client: subscribe and listen here. `first` is false after a reconnect. */
  attach: (client: Client, first: boolean) => void;
  /** Where disconnect/reconnect notices go. */
  note: (text: string) => void;
  /** Appended to the "lost the connection" notice, e.g. what the user misses meanwhile. */
  lostHint?: string;
  /** Appended to the "the broker restarted" notice. */
  restartHint?: string;
  initialDelayMs?: number;
  maxDelayMs?: number;
};

/** Connects (or exits 2 explaining why not), then reconnects for ever until close(). */
export async function keepConnected(socket: string, name: string, o: KeepOptions): Promise<Lifeline> {
  const initial = o.initialDelayMs ?? 100;
  const max = o.maxDelayMs ?? 1000;
  let client: Client | undefined = await connectOrExit(socket, name, { reconnect: false });
  let closing = false;
  let timer: NodeJS.Timeout | undefined;
  // The broker's connection ids are "<boot id>-<n>"; a new boot id means a new broker process.
  const boot = (cid: string) => (cid.includes('-') ? cid.slice(0, cid.lastIndexOf('-')) : undefined);
  let lastBoot = boot(client.cid);

  const adopt = (c: Client, first: boolean): void => {
    client = c;
    c.on('closed', () => {
      if (closing || client !== c) return;
      client = undefined;
      lost();
    });
    o.attach(c, first);
  };

  const lost = (): void => {
    const since = Date.now();
    o.note(`lost the connection to the broker; reconnecting${o.lostHint ?? ''}`);
    let delay = initial;
    let lastReason = '';
    const attempt = (): void => {
      timer = setTimeout(() => {
        connect({ socket, name, reconnect: false }).then(
          (c) => {
            if (closing) {
              void c.close();
              return;
            }
            const b = boot(c.cid);
            const restarted = b !== undefined && lastBoot !== undefined && b !== lastBoot;
            lastBoot = b;
            adopt(c, false);
            // Announce it once the new subscriptions are in place at the broker.
            void c
              .flush()
              .catch(() => undefined)
              .then(() => {
                if (closing || client !== c) return;
                o.note(`reconnected after ${((Date.now() - since) / 1000).toFixed(1)} s${restarted ? `; the broker restarted${o.restartHint ?? ''}` : ''}`);
              });
          },
          (err: unknown) => {
            if (closing) return;
            const reason = explainConnectFailure(err, socket);
            // Say why once, not on every attempt.
            if (reason !== lastReason) o.note(`still waiting for the broker: ${reason}`);
            lastReason = reason;
            delay = Math.min(max, delay * 2);
            attempt();
          },
        );
      }, delay);
    };
    attempt();
  };

  adopt(client, true);
  return {
    current: () => client,
    close: async () => {
      closing = true;
      clearTimeout(timer);
      await client?.close();
    },
  };
}
