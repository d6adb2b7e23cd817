/**
 * Recording subscriber: turns camera events into recording sessions per camera.
 *
 * Subscribes to camera.event.*.* (triggers), camera.status.* (offline/error/empty closes the
 * camera's session) and camera.lost.*; publishes recording.started/stopped.<cameraId>
 * (validated against the schema) and keeps a durable session index (session-index.ts). With a
 * `recorder` it runs one external recorder process per session (recorder.ts).
 *
 * Stop reasons: the schema's `recording.stopped` reasons are idle | manual | schedule |
 * max-duration | error | shutdown. Finer reasons (camera-offline, camera-lost, recorder-failed,
 * recovered) are published as `error` with the fine reason in the message header `detail`, and
 * kept as they are in the index. Recorder failures are also published as alert.recorder-failed.
 *
 * @example
 * const bus = await connect({ name: 'recording' });
 * const rec = await startRecording({ client: bus, indexFile: '/var/lib/nvr/sessions.jsonl', postRollMs: 15_000 });
 * // … later
 * await rec.stop();
 */
import type { Subscription } from 'rxjs';
import type { Client, Message } from 'udsbus';
import type { Alert, CameraEvent, CameraStatus, RecordingStarted, RecordingStopped } from '../../schemas/payloads.js';
import { parseTopic, topics } from '../../schemas/topics.js';
import { validatorFor } from '../../schemas/validate.js';
import { systemClock, type Clock } from '../common/clock.js';
import { describeExit } from '../common/child.js';
import { createLogger, errFields, type Logger } from '../common/logger.js';
import { ClipRecorder } from './clipper.js';
import { DEFAULTS, type ClipsConfig, type RecorderConfig, type TriggerKinds } from './config.js';
import { isFailure, Recorder, stopOrphan, type StartedRecorder } from './recorder.js';
import { readSessionIndex, SessionIndex, type IndexedSession } from './session-index.js';
import { SessionTracker, type CloseReason, type Session } from './sessions.js';
import { classify } from './triggers.js';

export { loadRecordingConfig, RecordingConfig } from './config.js';
export { readSessionIndex, type IndexedSession, type IndexRecord } from './session-index.js';
export type { CloseReason, Session } from './sessions.js';
export { clipTopic, type RecordingClip } from './clipper.js';
export type { ClipsConfig } from './config.js';

export type RecordingOptions = {
  /** A connected client; the subscriber does not close it. */
  client: Client;
  /** The session index file (created if missing). */
  indexFile: string;
  preRollMs?: number | undefined;
  postRollMs?: number | undefined;
  maxDurationMs?: number | undefined;
  /** Event kinds that start sessions (default motion, field, object, line). */
  triggers?: TriggerKinds | undefined;
  /** Only these cameras (default all). */
  cameras?: readonly string[] | undefined;
  /** Let `initial: true` states open sessions ("motion is ongoing" semantics). Default false. */
  startOnInitial?: boolean | undefined;
  recorder?: RecorderConfig | undefined;
  /** Continuous segment ring per camera and a clip per session (needs ffmpeg). */
  clips?: ClipsConfig | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
};

export interface RecordingHandle {
  /** Sessions open right now. */
  openSessions(): Session[];
  /** The clip recorder, when `clips` is set. */
  readonly clips: ClipRecorder | undefined;
  /** Sessions found open in the index at start-up (a crash) and closed with reason `recovered`. */
  readonly recovered: readonly IndexedSession[];
  /** Close open sessions (reason shutdown), stop recorders, unsubscribe. The client stays open. */
  stop(): Promise<void>;
}

const BUS_REASON: Record<CloseReason, RecordingStopped['reason']> = {
  idle: 'idle',
  'max-duration': 'max-duration',
  shutdown: 'shutdown',
  'camera-offline': 'error',
  'camera-lost': 'error',
  'recorder-failed': 'error',
  recovered: 'error',
};

const iso = (ms: number) => new Date(ms).toISOString();

export async function startRecording(opts: RecordingOptions): Promise<RecordingHandle> {
  const { client } = opts;
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? createLogger('udsbus-recording');
  const enabled = { ...DEFAULTS.triggers, ...opts.triggers };
  const cameras = opts.cameras === undefined ? undefined : new Set(opts.cameras);
  const timing = {
    preRollMs: opts.preRollMs ?? DEFAULTS.preRollMs,
    postRollMs: opts.postRollMs ?? DEFAULTS.postRollMs,
    maxDurationMs: opts.maxDurationMs ?? DEFAULTS.maxDurationMs,
  };
  if (timing.maxDurationMs <= timing.preRollMs) throw new RangeError('maxDurationMs must be longer than preRollMs');

  const index = new SessionIndex(opts.indexFile);
  if (index.repairedBytes > 0) log.warn({ file: opts.indexFile, bytes: index.repairedBytes }, 'session index: cut a torn last line left by a crash');
  const recorder = opts.recorder === undefined ? undefined : new Recorder(opts.recorder, client);
  const procs = new Map<string, StartedRecorder>();
  const running = new Set<Promise<void>>(); // recorder lifecycles, awaited by stop()

  const write = (what: string, f: () => void) => {
    try {
      f();
    } catch (err) {
      // The bus still hears about the session; the index is what cannot be trusted now.
      log.error({ ...errFields(err), file: opts.indexFile }, `session index: cannot write ${what}`);
    }
  };

  const publish = (topic: string, payload: RecordingStarted | RecordingStopped | Alert | object, hdr?: Record<string, string>) => {
    const check = validatorFor(topic)?.(payload);
    if (check !== undefined && !check.ok) {
      log.error({ topic, errors: check.errors }, 'not publishing an invalid payload (a bug in the recording subscriber)');
      return;
    }
    try {
      client.publish(topic, payload, hdr === undefined ? {} : { hdr });
    } catch (err) {
      log.error({ ...errFields(err), topic }, 'publish failed');
    }
  };

  const clips =
    opts.clips === undefined
      ? undefined
      : new ClipRecorder({
          cfg: opts.clips,
          client,
          log,
          preRollMs: timing.preRollMs,
          append: (what, r) => write(what, () => index.append(r)),
          publish: (topic, payload) => publish(topic, payload),
        });

  const recorderFailed = (s: Session, message: string) => {
    log.error({ cameraId: s.cameraId, sessionId: s.sessionId }, `recorder failed: ${message}`);
    write('recorder failure', () => index.append({ type: 'recorder', at: iso(clock.now()), sessionId: s.sessionId, event: 'failed', message }));
    publish(topics.alert('recorder-failed'), {
      v: 1,
      ruleId: 'recorder-failed',
      cameraId: s.cameraId,
      topic: topics.recordingStarted(s.cameraId),
      severity: 'critical',
      message: `recorder for ${s.cameraId} (session ${s.sessionId}) failed: ${message}`.slice(0, 2000),
      time: iso(clock.now()),
    });
    if (tracker.get(s.cameraId) === s) tracker.close(s.cameraId, 'recorder-failed');
  };

  const startRecorder = async (s: Session) => {
    if (recorder === undefined) return;
    let started: StartedRecorder;
    try {
      started = await recorder.start({
        cameraId: s.cameraId,
        sessionId: s.sessionId,
        start: s.start,
        maxSeconds: (s.start + timing.maxDurationMs - clock.now()) / 1000,
      });
    } catch (err) {
      recorderFailed(s, (err as Error).message);
      return;
    }
    if (tracker.get(s.cameraId) !== s) {
      await started.proc.stop(); // the session ended while we asked for the stream URI
      return;
    }
    procs.set(s.sessionId, started);
    const argv0 = started.argv[0]!;
    log.info({ cameraId: s.cameraId, sessionId: s.sessionId, pid: started.proc.pid, file: started.file }, 'recorder started');
    write('recorder start', () =>
      index.append({
        type: 'recorder',
        at: iso(clock.now()),
        sessionId: s.sessionId,
        event: 'started',
        ...(started.proc.pid === undefined ? {} : { pid: started.proc.pid }),
        argv0,
        ...(started.file === undefined ? {} : { file: started.file }),
      }),
    );
    const info = await started.proc.exited;
    procs.delete(s.sessionId);
    if (isFailure(info)) {
      recorderFailed(s, describeExit(argv0, info));
      return;
    }
    const fields = { cameraId: s.cameraId, sessionId: s.sessionId, code: info.code, signal: info.signal };
    if (info.killed) log.warn(fields, 'recorder ignored SIGTERM and was killed with SIGKILL');
    else if (!info.stopped) log.warn(fields, 'recorder exited before the session ended');
    else log.info(fields, 'recorder stopped');
    write('recorder exit', () => index.append({ type: 'recorder', at: iso(clock.now()), sessionId: s.sessionId, event: 'exited' }));
  };

  const tracker: SessionTracker = new SessionTracker(clock, timing, {
    open(s) {
      write('open', () =>
        index.append({
          type: 'open',
          at: iso(clock.now()),
          sessionId: s.sessionId,
          cameraId: s.cameraId,
          start: iso(s.start),
          triggers: s.triggers,
          ...(s.continued ? { continued: true } : {}),
        }),
      );
      log.info({ cameraId: s.cameraId, sessionId: s.sessionId, start: iso(s.start) }, 'session opened');
      publish(topics.recordingStarted(s.cameraId), {
        v: 1,
        sessionId: s.sessionId,
        cameraId: s.cameraId,
        start: iso(s.start),
        reason: 'event',
        triggers: s.triggers,
      });
      clips?.onOpen(s);
      if (recorder !== undefined) {
        const p = startRecorder(s).catch((err) => log.error(errFields(err), 'recorder supervision failed'));
        running.add(p);
        void p.finally(() => running.delete(p));
      }
    },
    extend(s, t) {
      write('extend', () => index.append({ type: 'extend', at: iso(clock.now()), sessionId: s.sessionId, trigger: t }));
    },
    close(s, reason) {
      const end = s.end ?? clock.now();
      write('close', () =>
        index.append({ type: 'close', at: iso(clock.now()), sessionId: s.sessionId, end: iso(end), reason, triggerCount: s.triggerCount }),
      );
      log.info({ cameraId: s.cameraId, sessionId: s.sessionId, end: iso(end), reason }, 'session closed');
      publish(
        topics.recordingStopped(s.cameraId),
        { v: 1, sessionId: s.sessionId, cameraId: s.cameraId, start: iso(s.start), end: iso(end), reason: BUS_REASON[reason], triggers: s.triggers },
        { detail: reason },
      );
      void procs.get(s.sessionId)?.proc.stop(); // its exit is handled in startRecorder
      clips?.onClose(s, end);
    },
  });

  // ---- recovery: sessions the index says are open were open when the process died
  const { sessions: known, skipped } = readSessionIndex(opts.indexFile);
  for (const s of skipped) log.warn({ file: opts.indexFile, ...s }, 'session index: skipped a line');
  tracker.reserveIds(known.map((s) => s.sessionId));
  const recovered = known.filter((s) => s.end === undefined);
  for (const s of recovered) {
    // The last line written for the session is the best lower bound for when it really ended.
    s.end = s.lastAt;
    s.reason = 'recovered';
    write('recovered close', () =>
      index.append({ type: 'close', at: iso(clock.now()), sessionId: s.sessionId, end: s.lastAt, reason: 'recovered', triggerCount: s.triggerCount }),
    );
    if (s.recorder?.running === true && s.recorder.pid !== undefined && s.recorder.argv0 !== undefined) {
      if (stopOrphan(s.recorder.pid, s.recorder.argv0)) log.warn({ pid: s.recorder.pid, sessionId: s.sessionId }, 'stopped an orphaned recorder');
    }
    log.warn({ cameraId: s.cameraId, sessionId: s.sessionId, end: s.lastAt }, 'closed a session left open by a crash');
    publish(
      topics.recordingStopped(s.cameraId),
      { v: 1, sessionId: s.sessionId, cameraId: s.cameraId, start: s.start, end: s.lastAt, reason: 'error', triggers: s.triggers.slice(0, 100) },
      { detail: 'recovered' },
    );
    clips?.onRecovered(s.sessionId);
  }

  // ---- bus input
  const wanted = (cameraId: string) => cameras === undefined || cameras.has(cameraId);

  const onEvent = (m: Message) => {
    const info = parseTopic(m.topic);
    if (info?.type !== 'camera.event' || !wanted(info.cameraId) || m.payload === undefined) return;
    const check = validatorFor(m.topic)?.(m.payload);
    if (check !== undefined && !check.ok) {
      log.warn({ topic: m.topic, errors: check.errors }, 'ignoring an invalid camera event');
      return;
    }
    const action = classify(m.topic, m.payload as CameraEvent, enabled, iso(clock.now()));
    const mayOpen = !(action.type !== 'none' && action.initial) || opts.startOnInitial === true;
    if (action.type === 'hold') tracker.hold(info.cameraId, action.key, action.active, action.trigger, mayOpen);
    else if (action.type === 'pulse') tracker.pulse(info.cameraId, action.trigger, mayOpen);
  };

  const onStatus = (m: Message) => {
    const info = parseTopic(m.topic);
    if (info?.type !== 'camera.status' || !wanted(info.cameraId)) return;
    // An empty status means the publisher died and its owned status was cleared: offline.
    const st = m.payload as CameraStatus | undefined;
    if (st?.state === 'online' && clips !== undefined) clips.ensure(info.cameraId);
    if (st === undefined || st === null || st.state !== 'online') {
      if (tracker.close(info.cameraId, 'camera-offline') !== undefined) {
        log.warn({ cameraId: info.cameraId, state: st?.state ?? 'empty', reason: st?.reason }, 'camera offline: closed its session');
      }
    }
  };

  const onLost = (m: Message) => {
    const info = parseTopic(m.topic);
    if (info?.type === 'camera.lost' && wanted(info.cameraId)) {
      tracker.close(info.cameraId, 'camera-lost');
      void clips?.drop(info.cameraId);
    }
  };

  const subs: Subscription[] = [];
  const subscribeStatus = () => client.subscribe('camera.status.*').subscribe({ next: onStatus, error: (e) => log.error(errFields(e), 'status subscription failed') });
  let statusSub = subscribeStatus();
  subs.push(
    client.subscribe('camera.event.*.*', { retained: false }).subscribe({ next: onEvent, error: (e) => log.error(errFields(e), 'event subscription failed') }),
    client.subscribe('camera.lost.*', { retained: false }).subscribe({ next: onLost, error: (e) => log.error(errFields(e), 'lost subscription failed') }),
  );
  // After a loss notice the retained statuses are re-read: a missed "offline" must still close.
  const onLoss = (e: { pattern: string; lost: number }) => {
    log.warn({ pattern: e.pattern, lost: e.lost }, 'messages lost by the broker for this subscriber');
    statusSub.unsubscribe();
    statusSub = subscribeStatus();
  };
  client.on('loss', onLoss);
  clips?.startStatic(wanted);
  await client.flush();
  log.info({ indexFile: opts.indexFile, recovered: recovered.length, ...timing }, 'recording subscriber ready');

  let stopped = false;
  return {
    recovered,
    clips,
    openSessions: () => tracker.openSessions(),
    async stop() {
      if (stopped) return;
      stopped = true;
      client.off('loss', onLoss);
      for (const s of subs) s.unsubscribe();
      statusSub.unsubscribe();
      tracker.closeAll('shutdown');
      await Promise.all([...running]);
      await clips?.stop();
      index.close();
      await client.flush().catch(() => undefined);
    },
  };
}
