/**
 * Test rig for the ONVIF publisher: a real broker on a temp socket, simulated cameras driven over
 * HTTP by the real `onvif` library inside the publisher, and a recorder of bus messages that tests
 * wait on (never on sleeps).
 */
import type { Subscription } from 'rxjs';
import type { Client, Message } from '../../bus/client/client.js';
import { startOnvifPublisher, type CameraSpec, type OnvifPublisherHandle, type OnvifPublisherOptions, type Timing } from '../../publishers/onvif/index.js';
import {
  startSimulatedCamera,
  startSimulatedCameras,
  type SimulatedCamera,
  type SimulatedCameraOptions,
} from '../../publishers/onvif/simulator/index.js';
import { toTopicToken, validatorFor } from '../../schemas/index.js';
import { startTestBus, type TestBus } from '../helpers/harness.js';

/** Short timeouts so faults resolve in well under a second or two; nothing asserts on them. */
export const FAST: Partial<Timing> = {
  connectTimeoutMs: 3000,
  requestTimeoutMs: 2000,
  pullTimeoutMs: 1000,
  pullReplyMarginMs: 1000,
  stopTimeoutMs: 500,
  backoffInitialMs: 50,
  backoffMaxMs: 400,
  lostAfterMs: 60_000,
  authBackoffInitialMs: 100,
  authBackoffMaxMs: 400,
};

export const idOf = (sim: SimulatedCamera): string => toTopicToken(sim.serial);

export function specOf(sim: SimulatedCamera, extra: Partial<CameraSpec> = {}): CameraSpec {
  return { url: sim.url, username: sim.username, password: sim.password, ...extra };
}

/** Records every message on `patterns` from the moment it is created; waits see history too. */
export class BusRecorder {
  readonly messages: Message[] = [];
  readonly invalid: string[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly subs: Subscription[];

  private constructor(client: Client, patterns: string[]) {
    this.subs = patterns.map((p) =>
      client.subscribe(p).subscribe((m) => {
        // Every payload published on a taxonomy topic must pass its schema (empty = cleared).
        if (m.payload !== undefined && !m.topic.startsWith('_INBOX.')) {
          const r = validatorFor(m.topic)?.(m.payload);
          if (r !== undefined && !r.ok) this.invalid.push(`${m.topic}: ${r.errors.join('; ')}`);
        }
        this.messages.push(m);
        for (const w of [...this.waiters]) w();
      }),
    );
  }

  static async start(client: Client, ...patterns: string[]): Promise<BusRecorder> {
    const r = new BusRecorder(client, patterns.length > 0 ? patterns : ['camera.>', 'publisher.>']);
    await client.flush();
    return r;
  }

  /** Index to pass as `from` to wait only for messages after now. */
  get mark(): number {
    return this.messages.length;
  }

  of(topicPrefix: string, from = 0): Message[] {
    return this.messages.slice(from).filter((m) => m.topic.startsWith(topicPrefix));
  }

  waitFor(pred: (m: Message) => boolean, what: string, ms = 10_000, from = 0): Promise<Message> {
    const err = new Error(`timed out after ${ms} ms waiting for ${what}`);
    return new Promise((resolve, reject) => {
      let i = from;
      const check = (): boolean => {
        for (; i < this.messages.length; i++) {
          const m = this.messages[i]!;
          if (pred(m)) {
            done();
            resolve(m);
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        err.message += `; last messages: ${this.messages.slice(-5).map((m) => `${m.topic} ${JSON.stringify(m.payload)}`).join(' | ').slice(0, 1500)}`;
        reject(err);
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      if (!check()) this.waiters.add(check);
    });
  }

  /** The next camera.status of `id` (after `from`) whose payload matches. */
  status(id: string, match: Record<string, unknown> | 'cleared', ms = 10_000, from = 0): Promise<Message> {
    return this.waitFor(
      (m) =>
        m.topic === `camera.status.${id}` &&
        (match === 'cleared'
          ? m.payload === undefined
          : m.payload !== undefined && Object.entries(match).every(([k, v]) => (m.payload as Record<string, unknown>)[k] === v)),
      `camera.status.${id} ${JSON.stringify(match)}`,
      ms,
      from,
    );
  }

  event(id: string, kind: string, pred: (p: Record<string, unknown>) => boolean = () => true, ms = 10_000, from = 0): Promise<Message> {
    return this.waitFor(
      (m) => m.topic === `camera.event.${id}.${kind}` && pred(m.payload as Record<string, unknown>),
      `camera.event.${id}.${kind}`,
      ms,
      from,
    );
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.waiters.clear();
  }
}

export interface Rig {
  bus: TestBus;
  client: Client;
  rec: BusRecorder;
  sims: SimulatedCamera[];
  pub: OnvifPublisherHandle | undefined;
  /** Starts (or restarts) the publisher on the rig's cameras. */
  startPublisher(o?: Partial<OnvifPublisherOptions>, cameras?: CameraSpec[]): Promise<OnvifPublisherHandle>;
  addSim(o?: SimulatedCameraOptions): Promise<SimulatedCamera>;
  close(): Promise<void>;
}

/** A broker, `n` simulated cameras and a recorder; the publisher is started by the test. */
export async function startRig(n: number, simOpts: SimulatedCameraOptions | ((i: number) => SimulatedCameraOptions) = {}): Promise<Rig> {
  const bus = await startTestBus();
  const sims = n > 0 ? await startSimulatedCameras(n, simOpts) : [];
  const client = await bus.client({ name: 'test-observer' });
  const rec = await BusRecorder.start(client);
  const pubs: OnvifPublisherHandle[] = [];
  const rig: Rig = {
    bus,
    client,
    rec,
    sims,
    pub: undefined,
    async startPublisher(o = {}, cameras) {
      const pub = await startOnvifPublisher({
        socket: bus.socket,
        cameras: cameras ?? sims.map((s) => specOf(s)),
        ...o,
        timing: { ...FAST, ...o.timing },
      });
      pubs.push(pub);
      rig.pub = pub;
      return pub;
    },
    async addSim(o = {}) {
      const s = await startSimulatedCamera(o);
      sims.push(s);
      return s;
    },
    async close() {
      rec.stop();
      await Promise.all(pubs.map((p) => p.stop().catch(() => undefined)));
      await Promise.all(sims.map((s) => s.close()));
      await bus.close();
    },
  };
  return rig;
}
