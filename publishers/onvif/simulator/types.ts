/**
 * Public types of the simulated ONVIF camera.
 */
import type { SimulatedStream, StreamOptions } from './stream.js';

export type UserLevel = 'Administrator' | 'Operator' | 'User' | 'Anonymous' | 'Extended';

export interface SimulatedUser {
  username: string;
  password: string;
  userLevel: UserLevel;
}

/** A physical video input (GetVideoSources). */
export interface VideoSourceSpec {
  token: string;
  width: number;
  height: number;
  framerate: number;
}

/** A media profile (GetProfiles). */
export interface ProfileSpec {
  token: string;
  name: string;
  /** Token of the VideoSourceSpec this profile encodes; defaults to the first source. */
  videoSource?: string;
  encoding?: 'H264' | 'JPEG' | 'MPEG4';
  width?: number;
  height?: number;
  fps?: number;
  bitrateKbps?: number;
  /** Whether the profile carries a PTZConfiguration; defaults to the camera's `ptz` option. */
  ptz?: boolean;
  /** RTSP path, e.g. `/Streaming/Channels/101`; defaults to `/stream/<token>`. */
  streamPath?: string;
}

export type ItemValue = string | number | boolean;

export type AuthSchemes = 'both' | 'digest' | 'ws-security';

interface EventBase {
  /** Event time; defaults to the camera clock's now. */
  at?: Date;
}

interface AnalyticsEventBase extends EventBase {
  /** VideoSource token; defaults to the first source. Sent as its VideoSourceConfigurationToken. */
  videoSource?: string;
  /** Rule name in the Source items; each kind has a default such as `MyMotionDetectorRule`. */
  rule?: string;
}

/**
 * An event the camera raises. Stateful kinds (`motion`, `tamper`, `digitalInput`, `field`,
 * `object`) are ONVIF properties: they carry PropertyOperation and are replayed as Initialized to
 * every new subscription. `lineCrossing` is a pulse event without PropertyOperation, as ONVIF
 * specifies; `custom` is either, per its `property` flag.
 *
 * @example
 * cam.emit({ kind: 'motion', state: true });
 * cam.emit({ kind: 'custom', topic: 'tns1:Device/HardwareFailure/StorageFailure',
 *            source: { Token: 'SD_1' }, data: { Failed: true } });
 */
export type CameraEvent =
  /** tns1:RuleEngine/CellMotionDetector/Motion, data IsMotion. */
  | (AnalyticsEventBase & { kind: 'motion'; state: boolean })
  /** tns1:RuleEngine/TamperDetector/Tamper, data IsTamper. */
  | (AnalyticsEventBase & { kind: 'tamper'; state: boolean })
  /** tns1:RuleEngine/FieldDetector/ObjectsInside, data IsInside. */
  | (AnalyticsEventBase & { kind: 'field'; state: boolean })
  /** tns1:RuleEngine/LineDetector/Crossed, data ObjectId; no PropertyOperation. */
  | (AnalyticsEventBase & { kind: 'lineCrossing'; objectId?: number })
  /** tns1:RuleEngine/ObjectDetector/Object, data ObjectId, ClassTypes, Likelihood, IsInside. */
  | (AnalyticsEventBase & {
      kind: 'object';
      state: boolean;
      classTypes: readonly string[];
      objectId?: number;
      likelihood?: number;
    })
  /** tns1:Device/Trigger/DigitalInput, source InputToken, data LogicalState. */
  | (EventBase & { kind: 'digitalInput'; state: boolean; input?: string })
  /** Any topic. A prefix other than tns1 is declared as `urn:udsbus:simulator:<prefix>`. */
  | (EventBase & {
      kind: 'custom';
      topic: string;
      source?: Readonly<Record<string, ItemValue>>;
      data: Readonly<Record<string, ItemValue>>;
      /** Stateful (Initialized/Changed) when true; default false. */
      property?: boolean;
      /** Overrides the PropertyOperation, e.g. `Deleted`; only for properties. */
      operation?: PropertyOperation;
      /** Sent verbatim as UtcTime, to imitate firmware with broken clocks (e.g. `1970-01-01T00:00:00`). */
      rawUtcTime?: string;
    });

export type CameraEventKind = CameraEvent['kind'];
export type PropertyOperation = 'Initialized' | 'Changed' | 'Deleted';

/**
 * Scripted events. The `kind` form toggles a stateful kind every `every` ms (starting with the
 * opposite of its current state) or pulses `lineCrossing`; the `event` form calls your function
 * with the tick number (0, 1, …).
 *
 * @example
 * events: [{ every: 500, kind: 'motion' }, { every: 2000, event: (n) => ({ kind: 'digitalInput', state: n % 2 === 0 }) }]
 */
export type EventSchedule =
  | {
      every: number;
      /** Stop after this many ticks; default unlimited. */
      count?: number;
      kind: 'motion' | 'tamper' | 'field' | 'lineCrossing' | 'digitalInput' | 'object';
      videoSource?: string;
      input?: string;
      rule?: string;
      classTypes?: readonly string[];
    }
  | { every: number; count?: number; event: (tick: number) => CameraEvent };

/**
 * Discovery is multicast: enable it only where that is intended (a test's own network
 * namespace). XAddrs and LOCATION use the camera's `host`; a wildcard host is announced as
 * 127.0.0.1, so listen on the interface's address when discovering over a real link.
 *
 * @example
 * await startSimulatedCamera({ host: '10.99.0.1', discovery: { wsDiscovery: true, ssdp: true, interface: 'v0' } });
 */
export interface DiscoveryOptions {
  /** Answer WS-Discovery Probe/Resolve on UDP 3702 (239.255.255.250) and send Hello/Bye. */
  wsDiscovery?: boolean;
  /** Answer SSDP (UPnP) M-SEARCH and send NOTIFY alive/byebye on UDP 1900; LOCATION is `<base>/description.xml`. */
  ssdp?: boolean;
  /** Interface name to join the multicast groups on, e.g. `v0`; default: the system's choice. */
  interface?: string;
  /** Upper bound of the random delay before a ProbeMatch (WS-Discovery APP_MAX_DELAY) or an SSDP answer (also capped by the search's MX); default 100 ms. */
  maxResponseDelayMs?: number;
}

/** The subset of a pino logger the simulator uses. */
export interface SimLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface SimulatedCameraOptions {
  /** Seeds every stable default (serial, uuid, MAC, hostname). Default `sim-camera`. */
  name?: string;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Listen port; default 0 (ephemeral). */
  port?: number;
  /** The fixed administrator account; default admin/admin. */
  username?: string;
  password?: string;
  /** Extra accounts besides the administrator. */
  users?: readonly SimulatedUser[];
  serial?: string;
  uuid?: string;
  manufacturer?: string;
  model?: string;
  firmware?: string;
  hardwareId?: string;
  /** ONVIF hostname (GetHostname); default derived from `name`. */
  hostname?: string;
  mac?: string;
  videoSources?: readonly VideoSourceSpec[];
  /** Default: a main and a sub stream on the first video source. */
  profiles?: readonly ProfileSpec[];
  /** Whether the camera has a PTZ unit (service, PTZConfiguration); default true. */
  ptz?: boolean;
  /** Digital input tokens; default `['DigitalInput_1']`. */
  digitalInputs?: readonly string[];
  /** Port in the RTSP URIs; default 554 (nothing listens there), or the stream's port with `stream`. */
  rtspPort?: number;
  /**
   * Serve a real RTSP H.264 test pattern with a burnt-in clock on 127.0.0.1 (needs ffmpeg; see
   * stream.ts); GetStreamUri then points at it. Default false.
   */
  stream?: boolean | StreamOptions;
  events?: readonly EventSchedule[];
  /** Longest a PullMessages waits, whatever Timeout the client asks; default 60000. */
  pullTimeoutCapMs?: number;
  /** Concurrent pull-point subscriptions before CreatePullPointSubscription faults; default 32. */
  maxPullPoints?: number;
  /** Messages queued per subscription; older ones are dropped past it. Default 1000. */
  maxQueuedEvents?: number;
  /** The camera clock's offset from the host clock, in ms; default 0. */
  clockOffsetMs?: number;
  /** Allowed distance between a UsernameToken's Created and the camera clock; default 300000. */
  authTimeToleranceMs?: number;
  /**
   * Authentication schemes accepted: `both` (default), `digest` (HTTP Digest only; a request
   * with a WS-Security header is refused, as some firmware does) or `ws-security` (UsernameToken only).
   */
  authSchemes?: AuthSchemes;
  discovery?: DiscoveryOptions;
  logger?: SimLogger;
}

/** What fault() can break, and how. */
export interface FaultOptions {
  /** Accept the TCP connection and the request, never answer. */
  unresponsive: FaultScope;
  /** Answer after `delayMs` (default 1000). */
  slow: FaultScope & { delayMs?: number };
  /** Answer with a SOAP 1.2 Fault; default reason `Simulated fault`, code Receiver. */
  soapFault: FaultScope & {
    reason?: string;
    code?: 'Sender' | 'Receiver';
    subcode?: string;
    detail?: string;
    httpStatus?: number;
  };
  /** Answer 200 with a truncated, unparsable envelope. */
  malformedXml: FaultScope;
  /** Reject every credential: NotAuthorized fault with HTTP 400 (default) or 401. */
  wrongPassword: FaultScope & { httpStatus?: 400 | 401 };
  /** Close the listener and every connection; clearing it listens again on the same port. */
  down: Record<string, never>;
}

export type FaultKind = keyof FaultOptions;

export interface FaultScope {
  /** Only these SOAP actions (local names such as `PullMessages`); default every request. */
  action?: string | readonly string[];
  /** Clear the fault by itself after it has hit this many requests. */
  times?: number;
}

export interface PtzVector {
  x: number;
  y: number;
  zoom: number;
}

export interface PtzState {
  /** Pan/tilt in [-1, 1], zoom in [0, 1] (the generic ONVIF spaces). */
  position: PtzVector;
  /** Current continuous velocity; zero when idle. */
  velocity: PtzVector;
  moving: boolean;
  /** The last PTZ operation received, e.g. `ContinuousMove`. */
  lastCommand: string | undefined;
}

export interface CallRecord {
  /** Local name of the SOAP operation, e.g. `GetProfiles`, or `GET /description.xml`. */
  action: string;
  path: string;
  /** Authenticated username; undefined for anonymous or rejected requests. */
  user: string | undefined;
}

export interface SimulatorStats {
  /** SOAP calls received, by operation local name (faulted ones included). */
  calls: Record<string, number>;
  totalCalls: number;
  authFailures: number;
  /** Requests refused because of their WS-Security UsernameToken (bad token, or a scheme the camera refuses). */
  tokenRefusals: number;
  activeSubscriptions: number;
  /** PullMessages requests currently waiting for events. */
  pendingPulls: number;
  openConnections: number;
  reboots: number;
  /** How many requests each injected fault has hit. */
  faultHits: Partial<Record<FaultKind, number>>;
}

/** A running simulated camera. */
export interface SimulatedCamera {
  /** Device service URL, e.g. `http://127.0.0.1:40123/onvif/device_service`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** ONVIF hostname (GetHostname), not the listen address. */
  readonly hostname: string;
  readonly name: string;
  readonly serial: string;
  /** Endpoint UUID (WS-Discovery `urn:uuid:<uuid>`). */
  readonly uuid: string;
  readonly mac: string;
  /** The administrator account's credentials. */
  readonly username: string;
  readonly password: string;
  /** The RTSP test stream, when started with `stream`. */
  readonly stream: SimulatedStream | undefined;
  /** Stops schedules and discovery and destroys every socket, long polls included. */
  close(): Promise<void>;
  /**
   * Raises an event now; it reaches every matching subscription. A property event whose data
   * equals the current state sends nothing (ONVIF sends Changed only on change).
   *
   * @example
   * sim.emit({ kind: 'motion', state: true });
   * sim.emit({ kind: 'object', state: true, classTypes: ['Human'] });
   */
  emit(event: CameraEvent): void;
  users(): SimulatedUser[];
  ptzState(): PtzState;
  /**
   * Injects a fault, replacing one of the same kind; resolves once it is in effect (for `down`,
   * once the listener is closed). Several kinds may be active at once.
   *
   * @example
   * await sim.fault('soapFault', { action: 'PullMessages', reason: 'Busy', times: 3 });
   * await sim.fault('slow', { delayMs: 2000 });
   */
  fault<K extends FaultKind>(kind: K, opts?: FaultOptions[K]): Promise<void>;
  /**
   * Clears one fault kind or all. Requests held by `unresponsive` are then dropped (their
   * connections reset); clearing `down` resolves once listening again on the same port, and
   * rejects if another process took that port meanwhile.
   */
  clearFaults(kind?: FaultKind): Promise<void>;
  /**
   * Simulates a reboot: every connection drops, pull-point subscriptions are forgotten (the
   * client's next Pull faults), event states reset and PTZ stops. With `downMs` the camera is
   * also unreachable for that long.
   */
  reboot(opts?: { downMs?: number }): Promise<void>;
  stats(): SimulatorStats;
  /**
   * Observes each request once it is parsed and authenticated, before it is answered (a
   * PullMessages is reported before it starts waiting). Returns an unsubscribe function.
   *
   * @example
   * const off = sim.onCall((c) => c.action === 'Unsubscribe' && done());
   */
  onCall(listener: (call: CallRecord) => void): () => void;
}
