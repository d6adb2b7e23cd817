/**
 * The TypeScript client's conformance scenario driver: the same scenarios, the same JSON lines
 * as clients/python/conformance.py and clients/go/cmd/conformance, run in-process.
 *
 * Where the TypeScript client checks something before the broker can (topics, patterns), the
 * error it throws carries the same code and name the broker would send; the driver says so with
 * `local: true`.
 */
import type { Subscription as RxSubscription } from 'rxjs';
import { createConnection, type Socket } from 'node:net';
import { connect, RemoteError, UdsbusError, type Client, type ConnectOptions, type Message, type SubscribeOptions } from '../../bus/index.js';
import { decodeFrame, encodeFrame } from '../../bus/protocol/codec.js';
import { FrameParser } from '../../bus/protocol/parser.js';

export type Line = { event: string } & Record<string, unknown>;
type Emit = (event: string, fields?: Record<string, unknown>) => void;

const LANG = 'ts';
const WAIT = 10_000;

/** Turns decoded CBOR into JSON the way the other drivers do: byte strings become {$bytes: hex}. */
export function jsonable(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(jsonable);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, e]) => [String(k), jsonable(e)]));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, jsonable(e)]));
  return v === undefined ? null : v;
}

/** An async queue over an Observable subscription, for "next message within ms". */
class Inbox {
  private items: Message[] = [];
  private waiters: Array<() => void> = [];
  readonly sub: RxSubscription;
  constructor(client: Client, pattern: string, opts: SubscribeOptions = {}) {
    this.sub = client.subscribe(pattern, opts).subscribe((m) => {
      this.items.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async next(ms: number): Promise<Message | undefined> {
    const deadline = Date.now() + ms;
    while (this.items.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.items.shift();
  }
}

function msgLine(m: Message, sub: string): Record<string, unknown> {
  const empty = m.bytes.length === 0;
  return { sub, topic: m.topic, seq: m.seq, retained: m.retained, empty, value: empty ? null : m.payload, lostBefore: m.lost, fromName: m.from?.name ?? null };
}

function errorLine(emit: Emit, step: string, err: unknown, t0?: number, local = false): void {
  if (!(err instanceof UdsbusError)) {
    emit('unexpected', { step, error: String(err) });
    return;
  }
  emit('error', { step, code: err.code, name: err.codeName, fatal: err.fatal, ...(t0 === undefined ? {} : { ms: Date.now() - t0 }), ...(local ? { local } : {}) });
}

function sampleValue(): unknown {
  return { from: LANG, n: -5, u: 2 ** 32 - 1, f: 1.5, s: 'ünïcødé ✓', b: Buffer.from([0, 1, 2, 255]), l: [1, 'two', null, false, true], m: { nested: { deep: [] } } };
}

async function need(p: Promise<Message | undefined>, what: string): Promise<Message> {
  const m = await p;
  if (m === undefined) throw new Error(`timed out waiting for ${what}`);
  return m;
}

/** Counts frames of one op the client receives, by tapping its socket (the client has no counter). */
function tapOps(client: Client, op: string): () => number {
  let n = 0;
  const parser = new FrameParser(64 << 20, (body) => {
    const r = decodeFrame(body);
    if (r.ok && (r.frame as { op?: unknown }).op === op) n++;
  }, () => undefined);
  sockOf(client).on('data', (c: Buffer) => parser.push(c));
  return () => n;
}

type Session = { bus: Client; asyncErrors: UdsbusError[] };

/** The socket under each client (the latest one after a reconnect). */
const sockets = new WeakMap<Client, () => Socket>();
const sockOf = (bus: Client): Socket => sockets.get(bus)!();

async function open(emit: Emit, socket: string, extra: ConnectOptions = {}): Promise<Session> {
  const asyncErrors: UdsbusError[] = [];
  // The driver dials the socket itself so that it can watch and pause it like any language's driver.
  let sock!: Socket;
  const bus = await connect({ name: `conformance-${LANG}`, ...extra, dial: () => (sock = createConnection(socket)) });
  sockets.set(bus, () => sock);
  bus.on('error', (e) => {
    if (e instanceof UdsbusError) {
      asyncErrors.push(e);
      emit('async-error', { code: e.code, name: e.codeName, fatal: e.fatal });
    }
  });
  emit('connected', { cid: bus.cid, keepalive: bus.limits.keepaliveMs, limits: bus.limits });
  return { bus, asyncErrors };
}

const cidOf = (bus: Client): string => bus.cid;

// ------------------------------------------------------------------------------- scenarios

const scenarios: Record<string, (emit: Emit, socket: string, signal: AbortSignal) => Promise<void>> = {
  async pubsub(emit, socket) {
    const { bus } = await open(emit, socket);
    const a = new Inbox(bus, 'conf.ps.*.motion');
    const b = new Inbox(bus, 'conf.ps.>');
    await bus.flush();
    emit('ready');
    for (;;) {
      const m = await need(b.next(WAIT), 'conf.ps.done on B');
      emit('msg', msgLine(m, 'B'));
      if (m.topic === 'conf.ps.done') break;
    }
    for (let m = await a.next(300); m; m = await a.next(300)) emit('msg', msgLine(m, 'A'));
    bus.publish('conf.ps.back.value', sampleValue());
    bus.publish('conf.ps.back.empty');
    await bus.flush();
    emit('published');
    await bus.close();
  },

  async retained(emit, socket) {
    const { bus } = await open(emit, socket);
    const s = new Inbox(bus, 'conf.ret.*');
    await bus.flush();
    for (let m = await s.next(300); m; m = await s.next(300)) emit('msg', msgLine(m, 'S'));
    const n = new Inbox(bus, 'conf.ret.*', { retained: false });
    await bus.flush();
    emit('count', { sub: 'N', count: (await n.next(200)) === undefined ? 0 : 1 });
    bus.publish('conf.ret.d', { n: 4, from: LANG }, { retain: true });
    bus.publish('conf.ret.a', undefined, { retain: true });
    await bus.flush();
    for (let i = 0; i < 2; i++) emit('msg', msgLine(await need(s.next(WAIT), 'own publish'), 'S'));
    emit('published');
    await bus.close();
  },

  async request(emit, socket) {
    const { bus } = await open(emit, socket);
    emit('reply', { step: 'echo', value: await bus.request('conf.svc.echo', { x: 1, s: 'hi' }, { timeout: WAIT }) });
    try {
      await bus.request('conf.svc.fail', {}, { timeout: WAIT });
      emit('unexpected', { step: 'fail' });
    } catch (e) {
      if (!(e instanceof RemoteError)) throw e;
      emit('remote-error', { step: 'fail', code: e.code, message: e.message.slice(e.code.length + 2), data: e.data });
    }
    emit('reply', { step: 'raw', value: await bus.request('conf.svc.raw', {}, { timeout: WAIT }) });
    emit('reply', { step: 'bare', value: await bus.request('conf.svc.bare', {}, { timeout: WAIT }) });
    for (const [step, topic, timeout] of [['silent', 'conf.svc.silent', 300], ['nobody', 'conf.svc.nobody', 5000]] as const) {
      const t0 = Date.now();
      try {
        await bus.request(topic, {}, { timeout });
        emit('unexpected', { step });
      } catch (e) {
        errorLine(emit, step, e, t0);
      }
    }
    const values = await Promise.all([0, 1, 2, 3, 4].map((i) => bus.request<{ i: number }>('conf.svc.echo', { i }, { timeout: WAIT })));
    emit('parallel', { values: values.map((v) => v.i).sort() });
    await bus.close();
  },

  async serve(emit, socket) {
    const { bus } = await open(emit, socket);
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    bus.serve<{ a: number; b: number }>('conf.rpc.*', (m) => {
      const action = m.topic.slice(m.topic.lastIndexOf('.') + 1);
      if (action === 'add') return { sum: m.payload.a + m.payload.b };
      if (action === 'fail') throw Object.assign(new Error('bad input'), { code: 'invalid-argument', data: { field: 'a' } });
      if (action === 'boom') throw new Error('kaput');
      if (action === 'stop') {
        stop();
        return 'bye';
      }
      throw Object.assign(new Error(`no action ${action}`), { code: 'not-found' });
    }, { queue: 'conf-workers' });
    await bus.flush();
    emit('ready');
    await Promise.race([stopped, new Promise((_, reject) => setTimeout(() => reject(new Error('never asked to stop')), 2 * WAIT))]);
    await bus.flush();
    await bus.close();
  },

  async errors(emit, socket) {
    const { bus, asyncErrors } = await open(emit, socket);
    const cid = cidOf(bus);
    const steps: Array<[string, () => void]> = [
      ['pub-invalid-topic', () => bus.publish('conf.bad..topic', 1)],
      ['sub-invalid-pattern', () => bus.subscribe('conf.>.x')],
      ['pub-reserved-topic', () => bus.publish('$SYS.x', 1)],
      ['pub-topic-too-long', () => bus.publish(`conf.${'a'.repeat(300)}`, 1)],
    ];
    for (const [step, fn] of steps) {
      try {
        fn();
        emit('unexpected', { step });
      } catch (e) {
        errorLine(emit, step, e, undefined, true);
      }
    }
    // The client refuses invalid topics itself, so send this one raw, without an id: the broker's
    // err frame must come out of the client as an 'error' event.
    sockOf(bus).write(encodeFrame({ op: 'pub', topic: 'conf.*.x', payload: Buffer.from([0x01]) }));
    await bus.flush();
    bus.publish('conf.err.ok', 1);
    await bus.flush();
    emit('still-connected', { cid: cidOf(bus), sameCid: cidOf(bus) === cid, asyncErrors: asyncErrors.length });
    await bus.close();
  },

  async loss(emit, socket) {
    const total = 200;
    const { bus } = await open(emit, socket);
    const losses: Array<{ lost: number; policy: string; lastSeq: number }> = [];
    bus.on('loss', (l) => losses.push(l));
    const s = new Inbox(bus, 'conf.loss.>', { policy: 'drop-newest', maxMsgs: 1 });
    await bus.flush();
    // The TypeScript client reads as fast as the socket delivers; stop reading for a moment.
    const sock = sockOf(bus);
    sock.pause();
    emit('ready');
    await new Promise((r) => setTimeout(r, 1000));
    sock.resume();
    const seqs: number[] = [];
    const lostSum = () => losses.reduce((n, l) => n + l.lost, 0);
    const deadline = Date.now() + WAIT;
    while (Date.now() < deadline && seqs.length + lostSum() < total) {
      const m = await s.next(500);
      if (m) seqs.push(m.seq);
    }
    for (const l of losses) emit('loss', { lost: l.lost, policy: l.policy, lastSeq: l.lastSeq });
    const maxSeq = Math.max(0, ...seqs, ...losses.map((l) => l.lastSeq));
    emit('summary', { delivered: seqs.length, lost: lostSum(), maxSeq, ordered: seqs.every((q, i) => i === 0 || seqs[i - 1]! < q), subLost: lostSum() });
    await bus.close();
  },

  async keepalive(emit, socket) {
    const { bus } = await open(emit, socket, { keepaliveMs: 600 });
    const pings = tapOps(bus, 'ping');
    const cid = cidOf(bus);
    const ticks = new Inbox(bus, 'conf.ka.>');
    await bus.flush();
    emit('ready');
    let n = 0;
    for (;;) {
      const m = await need(ticks.next(WAIT), 'conf.ka.end');
      if (m.topic === 'conf.ka.end') break;
      n++;
    }
    const afterTicks = pings();
    await new Promise((r) => setTimeout(r, 1500)); // idle both ways
    await bus.flush();
    emit('alive', { cid: cidOf(bus), sameCid: cidOf(bus) === cid, ticks: n, pingsDuringTicks: afterTicks, pingsReceived: pings(), reconnects: 0 });
    await bus.close();
  },

  async wideints(emit, socket) {
    const { bus } = await open(emit, socket);
    const s = new Inbox(bus, 'conf.wi.in');
    await bus.flush();
    emit('ready');
    const m = await need(s.next(WAIT), 'conf.wi.in');
    emit('msg', { ...msgLine(m, 'S'), payloadHex: Buffer.from(m.bytes).toString('hex') });
    bus.publish('conf.wi.back', { big: 2 ** 40, neg: -(2 ** 40), max: 2 ** 53 - 1 });
    await bus.flush();
    emit('published');
    await bus.close();
  },

  async backoff(emit, socket, signal) {
    const { bus } = await open(emit, socket, { reconnectInitialMs: 50, reconnectMaxMs: 200 });
    let reconnected = false;
    bus.on('disconnect', () => emit('disconnected'));
    bus.on('reconnect', ({ cid }) => {
      reconnected = true;
      emit('reconnected', { cid });
    });
    emit('ready');
    // The test lets every attempt fail for a while (counting them), then starts a broker, or
    // stops this driver (kill() aborts the signal).
    for (let i = 0; i < 200 && !reconnected && !signal.aborted; i++) await sleepUnless(100, signal);
    await bus.close();
    if (!reconnected) throw new Error(signal.aborted ? 'stopped by the test' : 'never reconnected');
  },

  async reconnect(emit, socket) {
    let reconnected!: () => void;
    const back = new Promise<void>((resolve) => (reconnected = resolve));
    const { bus } = await open(emit, socket, { reconnectInitialMs: 50, reconnectMaxMs: 200 });
    bus.on('disconnect', () => emit('disconnected'));
    bus.on('reconnect', ({ cid }) => {
      // The re-sent SUBs are in before anything we send after them.
      void bus.flush().then(() => {
        emit('reconnected', { cid });
        reconnected();
      });
    });
    const s = new Inbox(bus, 'conf.rc.>');
    await bus.flush();
    emit('ready');
    emit('msg', msgLine(await need(s.next(WAIT), 'conf.rc.before'), 'S'));
    await Promise.race([back, new Promise((_, reject) => setTimeout(() => reject(new Error('never reconnected')), 2 * WAIT))]);
    emit('msg', msgLine(await need(s.next(WAIT), 'conf.rc.after'), 'S'));
    bus.publish('conf.rc.back', { from: LANG });
    await bus.flush();
    emit('published');
    await bus.close();
  },
};

export const SCENARIOS = Object.keys(scenarios);

/** Resolves after ms, or at once when the signal aborts. */
function sleepUnless(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Runs one scenario; resolves with the exit status a child process would have. */
export async function runTsScenario(name: string, socket: string, sink: (line: Line) => void, signal: AbortSignal): Promise<number> {
  const emit: Emit = (event, fields = {}) => sink({ event, ...(jsonable(fields) as Record<string, unknown>) });
  try {
    await scenarios[name]!(emit, socket, signal);
    emit('done');
    return 0;
  } catch (e) {
    emit('fatal', { error: String(e) });
    return 1;
  }
}
