/**
 * What a SOAP operation handler sees: the camera's state and the request.
 */
import type { EventHub } from '../events/hub.js';
import type { PullPoint, PullPointManager } from '../events/pullpoints.js';
import type { CameraIdentity } from '../identity.js';
import type { MediaModel } from '../media-model.js';
import type { PtzModel } from '../ptz-model.js';
import type { SimulatedUser, UserLevel } from '../types.js';
import type { UserStore } from '../users.js';
import type { XmlElement } from '../xml.js';

export interface CameraState {
  readonly identity: CameraIdentity;
  readonly media: MediaModel;
  readonly users: UserStore;
  readonly ptz: PtzModel | undefined;
  readonly hub: EventHub;
  readonly pullPoints: PullPointManager;
  readonly digitalInputs: readonly string[];
  readonly rtspPort: number;
  readonly maxPullPoints: number;
  /** The camera clock, in ms since the epoch. */
  now(): number;
  /** `http://host:port`, as clients reach this camera. */
  baseUrl(): string;
  scopes(): string[];
  reboot(): Promise<void>;
}

export interface OperationContext {
  /** The operation element (first child of Body). */
  readonly op: XmlElement;
  readonly header: XmlElement | undefined;
  readonly user: SimulatedUser | undefined;
  readonly path: string;
  /** Aborted when the client disconnects or the camera closes. */
  readonly signal: AbortSignal;
  /** The subscription addressed by the request path, for pull-point operations. */
  readonly subscription: PullPoint | undefined;
  /** Runs `fn` once the response has been written (SystemReboot answers before rebooting). */
  afterResponse(fn: () => void): void;
}

export interface OperationResult {
  readonly body: string;
  /** WS-Addressing Action of the response, as the event service sends it. */
  readonly action?: string;
}

export interface Operation {
  readonly ns: string;
  readonly name: string;
  /** Least user level allowed to call it; undefined means no authentication at all. */
  readonly level: UserLevel | undefined;
  /** Only valid on a pull-point subscription address. */
  readonly onSubscription?: boolean;
  handle(cam: CameraState, ctx: OperationContext): string | OperationResult | Promise<string | OperationResult>;
}
