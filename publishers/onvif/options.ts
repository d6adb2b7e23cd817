/**
 * Options of the ONVIF publisher: which cameras, how to find more, and every timeout (all
 * configurable so tests run fast without asserting on timing).
 */
import type { Logger } from './log.js';
import type { NotifyEndpointOptions } from './notify-server.js';
import type { SnapshotOptions } from './snapshots.js';

/** How a camera came to the publisher (`camera.discovered.*` `discoveredBy`). */
export type DiscoveredBy = 'static' | 'ws-discovery' | 'ssdp' | 'cli';

/** One camera to serve, with its credentials already resolved. */
export interface CameraSpec {
  /** Device service URL, e.g. `http://192.168.1.10/onvif/device_service`; may carry `user:pass@`. */
  url?: string;
  /** Host name or IP (instead of `url`). */
  host?: string;
  /** Default 80 (443 with `secure`). */
  port?: number;
  /** Device service path; default `/onvif/device_service`. */
  path?: string;
  /** HTTPS; default false (or from the `url` scheme). */
  secure?: boolean;
  /** Accept any TLS certificate (cameras mostly have self-signed ones); default false. */
  tlsInsecure?: boolean;
  username?: string;
  password?: string;
  /**
   * Fixed camera id (mapped with toTopicToken). Default: from the device — its serial number,
   * else its hardware id, else its WS-Discovery endpoint, else host and port.
   */
  id?: string;
  /** Display name for `camera.discovered` (`name`). */
  name?: string;
  /** Default `static` (`cli` for cameras given with `--camera`). */
  discoveredBy?: DiscoveredBy;
  /** WS-Discovery endpoint reference (`urn:uuid:…`), when found that way. */
  urn?: string;
  /**
   * How to authenticate: `ws-security` (UsernameToken in the SOAP header), `digest` (HTTP Digest,
   * for firmware that refuses the header) or `auto` (default): WS-Security first, and on a refusal
   * HTTP Digest at once; the scheme that worked is kept for the camera.
   */
  auth?: AuthMode;
  /**
   * How events arrive: `pull` (a pull point the publisher polls), `push` (WS-BaseNotification:
   * the camera POSTs Notify to the publisher's `notify` endpoint, which must be configured) or
   * `auto` (default): push when the publisher has a Notify endpoint, falling back to a pull point
   * when the camera refuses Subscribe; pull otherwise.
   */
  events?: EventDelivery;
}

export type AuthMode = 'auto' | 'ws-security' | 'digest';
export type EventDelivery = 'auto' | 'pull' | 'push';

/** A camera as the publisher handles it (CameraSpec normalised). */
export interface CameraTarget {
  host: string;
  port: number;
  path: string;
  secure: boolean;
  tlsInsecure: boolean;
  username: string | undefined;
  password: string | undefined;
  id: string | undefined;
  name: string | undefined;
  discoveredBy: DiscoveredBy;
  urn: string | undefined;
  auth: AuthMode;
  events: EventDelivery;
}

export interface Timing {
  /** Whole ONVIF connect (4–5 requests; the library can hang silently). Default 15000. */
  connectTimeoutMs: number;
  /** One request (RPC actions, device information, unsubscribe). Default 10000. */
  requestTimeoutMs: number;
  /** How long a PullMessages waits at the camera for events. Default 5000. */
  pullTimeoutMs: number;
  /** Extra time allowed for a pull's answer beyond pullTimeoutMs. Default 5000. */
  pullReplyMarginMs: number;
  /** How long stop() waits for the camera to confirm Unsubscribe. Default 1000. */
  stopTimeoutMs: number;
  /** Reconnect backoff: first delay, doubling up to the cap. Defaults 1000 and 60000. */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** An offline camera is reported `camera.lost` after this long. Default 300000. */
  lostAfterMs: number;
  /** MessageLimit of each PullMessages. Default 100. */
  messageLimit: number;
  /**
   * A pull that returns no events sooner than this means the camera ignores the pull timeout;
   * the next pull is then delayed (doubling up to pullTimeoutMs). Default 200.
   */
  minEmptyPullMs: number;
  /**
   * An event received more than this after it happened (camera time corrected by the measured
   * clock offset) is marked `late: true` — a replay after a reconnect — so alerting does not raise
   * a live alarm for it. Default 60000.
   */
  lateAfterMs: number;
  /**
   * After the camera refused our credentials, the next login waits at least this long, doubling
   * up to authBackoffMaxMs — vendors lock accounts after a few failed logins. Defaults 30000 and
   * 1800000.
   */
  authBackoffInitialMs: number;
  authBackoffMaxMs: number;
  /**
   * Refused logins in a row after which the publisher stops trying the camera and reports
   * `camera.status` state `auth-failed` (until restarted with other credentials). Default 5.
   */
  authMaxFailures: number;
  /** Push subscriptions are renewed this often (they are asked for 2 minutes). Default 60000. */
  renewIntervalMs: number;
}

export const DEFAULT_TIMING: Timing = {
  connectTimeoutMs: 15_000,
  requestTimeoutMs: 10_000,
  pullTimeoutMs: 5_000,
  pullReplyMarginMs: 5_000,
  stopTimeoutMs: 1_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 60_000,
  lostAfterMs: 300_000,
  messageLimit: 100,
  minEmptyPullMs: 200,
  lateAfterMs: 60_000,
  authBackoffInitialMs: 30_000,
  authBackoffMaxMs: 1_800_000,
  authMaxFailures: 5,
  renewIntervalMs: 60_000,
};

/** Credentials for discovered cameras. */
export interface Credentials {
  username: string;
  password: string;
}

export interface WsDiscoveryOptions {
  /** Probe every … ms; default 60000. */
  intervalMs?: number;
  /** How long each probe collects answers; default 3000. */
  timeoutMs?: number;
  /** Network interface to probe on (e.g. `eth0`); default the system's choice. */
  interface?: string;
}

export interface SsdpOptions {
  /** M-SEARCH every … ms; default 60000. */
  intervalMs?: number;
  /** Search target; default `upnp:rootdevice`. */
  searchTarget?: string;
  /** Interfaces to search on (one M-SEARCH from each); default all non-internal IPv4 interfaces. A name given here is used even if internal. */
  interfaces?: string[];
  /** The ONVIF device service is assumed at LOCATION's host with this port (default LOCATION's) and path. */
  onvifPort?: number;
  onvifPath?: string;
}

/** Discovery multicasts to the network: everything here is off unless set. */
export interface DiscoveryOptions {
  wsDiscovery?: boolean | WsDiscoveryOptions;
  ssdp?: boolean | SsdpOptions;
  /** Credentials tried on discovered cameras. */
  credentials?: Credentials;
  /** A discovered address that did not answer as an ONVIF camera is not tried again for this long; default 600000. */
  retryUnansweredMs?: number;
}

export interface OnvifPublisherOptions {
  /** Broker socket (default: UDSBUS_SOCKET, then the per-user default). */
  socket?: string;
  /** Publisher name: bus connection name and the `publisher.onvif.<name>` presence topic. Default `onvif`. */
  name?: string;
  cameras?: readonly CameraSpec[];
  discovery?: DiscoveryOptions;
  timing?: Partial<Timing>;
  /**
   * The WS-BaseNotification consumer endpoint for cameras that push events (see CameraSpec.events);
   * off unless set. Cameras must be able to reach it: listen on their network, or give `url`.
   */
  notify?: NotifyEndpointOptions;
  /** Take a snapshot with events of some kinds and attach it by reference; off unless set. */
  snapshots?: SnapshotOptions;
  /** Queue group of the camera.rpc.* subscriptions; default `udsbus-onvif`. */
  rpcQueue?: string;
  /** A pino logger or anything with the same methods; default silent. */
  logger?: Logger;
}
