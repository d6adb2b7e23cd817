/**
 * Type fixture for the typed client (bus/client/topic-types.ts) with the camera taxonomy's
 * augmentation (schemas/registry.ts). Never run: `npm run typecheck` compiles it as is, and
 * test/topic-types.test.ts compiles it again with every `@ts-expect-error` disarmed and checks
 * that exactly the line after each one fails — so each negative case fails for real and every
 * other line compiles.
 */
import type { Observable } from 'rxjs';
import type { Client, Message, PayloadFor, ReplyFor, ResultFor } from '../../bus/index.js';
import {
  topics,
  type CameraEvent,
  type CameraEventMotion,
  type CameraEventTamper,
  type CameraStatus,
  type PayloadOf,
  type ReplyOf,
  type RpcReplyByAction,
  type RpcRequestByAction,
  type RpcResultByAction,
  type TaxonomyPayloads,
} from '../../schemas/index.js';

type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
/** Mutually assignable: for unions that TypeScript may reduce differently (the info request is `{}`). */
type Same<X, Y> = [X] extends [Y] ? ([Y] extends [X] ? true : false) : false;
function expectType<T extends true>(_ok?: T): void {}
declare const bus: Client;
declare const motion: CameraEventMotion;
declare const status: CameraStatus;
declare const someTopic: string;

// ---- publish: a literal topic gives its payload type --------------------------------------
bus.publish('camera.event.cam-01.motion', motion);
bus.publish('camera.status.cam-01', status, { retain: true, owned: true });
bus.publish('camera.status.cam-01', undefined, { retain: true }); // no payload: clears the retained message
// @ts-expect-error a tamper payload is not a motion payload
bus.publish('camera.event.cam-01.motion', null as unknown as CameraEventTamper);
// @ts-expect-error required fields missing
bus.publish('camera.event.cam-01.motion', { active: true });
// @ts-expect-error wrong type
bus.publish('camera.status.cam-01', 'online');
// @ts-expect-error with confirm the payload is checked too
void bus.publish('camera.event.cam-01.motion', 1, { confirm: true });
void bus.publish('camera.event.cam-01.motion', motion, { confirm: true });
// Topic builders (template literal types) are typed as well.
bus.publish(topics.cameraEvent('cam-01', 'motion'), motion);
// @ts-expect-error builder topic, wrong payload
bus.publish(topics.cameraStatus('cam-01'), motion);

// ---- publish: anything not registered, or not literal, takes any value ---------------------
bus.publish('lab.door.open', { anything: 1 });
bus.publish(someTopic, 42);
bus.publish(`camera.event.${someTopic}`, 42); // token count unknown: no registered pattern is certain
bus.publish('camera.event.cam-01.motion.extra', 42); // five tokens: not the motion pattern
bus.publish('camera.event.cam-01.unheard-of', 42); // not a registered kind
bus.publish<string>('camera.event.cam-01.motion', { free: 'form' }); // the explicit way out

// ---- subscribe ----------------------------------------------------------------------------
expectType<Equal<typeof motionSub, Observable<Message<CameraEventMotion | undefined>>>>();
const motionSub = bus.subscribe('camera.event.*.motion');
bus.subscribe('camera.event.*.motion').subscribe((m) => {
  // @ts-expect-error an empty message (a cleared retained one) has an undefined payload
  void m.payload.active;
  if (m.payload !== undefined) void (m.payload.active satisfies boolean);
});
const oneCamera = bus.subscribe('camera.event.cam-01.motion');
expectType<Equal<typeof oneCamera, Observable<Message<CameraEventMotion | undefined>>>>();
// A wildcard over several registered patterns: their union.
const allEvents = bus.subscribe('camera.event.*.*');
expectType<Equal<typeof allEvents, Observable<Message<CameraEvent | undefined>>>>();
// @ts-expect-error no event payload has a status's `state`
allEvents.subscribe((m) => m.payload?.state);
const oneCamerasEvents = bus.subscribe('camera.event.cam-01.>');
expectType<Equal<typeof oneCamerasEvents, Observable<Message<CameraEvent | undefined>>>>();
const everything = bus.subscribe('camera.>');
expectType<Equal<typeof everything, Observable<Message<PayloadFor<'camera.>'> | undefined>>>>();
expectType<Same<Exclude<PayloadFor<'camera.>'>, undefined>, TaxonomyPayloads[keyof TaxonomyPayloads & `camera.${string}`]>>();
// Unregistered or non-literal: unknown; an explicit type wins.
const other = bus.subscribe('lab.>');
expectType<Equal<typeof other, Observable<Message<unknown>>>>();
const dynamic = bus.subscribe(someTopic);
expectType<Equal<typeof dynamic, Observable<Message<unknown>>>>();
const asserted = bus.subscribe<{ door: string }>('lab.door.*');
expectType<Equal<typeof asserted, Observable<Message<{ door: string }>>>>();

// ---- request ------------------------------------------------------------------------------
const uri = bus.request('camera.rpc.cam-01.stream-uri', { profile: 'main' });
expectType<Equal<typeof uri, Promise<RpcResultByAction['stream-uri']>>>();
void bus.request('camera.rpc.cam-01.stream-uri'); // no payload: the empty request
// @ts-expect-error profile is a string
void bus.request('camera.rpc.cam-01.stream-uri', { profile: 1 });
// @ts-expect-error users-create needs a level and a password
void bus.request('camera.rpc.cam-01.users-create', { username: 'op' });
// @ts-expect-error a stream-uri result has no users
void uri.then((r) => r.users);
// @ts-expect-error requestMessage checks the request too
void bus.requestMessage('camera.rpc.cam-01.snapshot-uri', { profile: 7 });
const whole = bus.requestMessage('camera.rpc.cam-01.info', {});
expectType<Equal<typeof whole, Promise<Message<RpcReplyByAction['info']>>>>();
const plain = bus.request('lab.svc.add', { a: 1 });
expectType<Equal<typeof plain, Promise<unknown>>>();
const explicit = bus.request<number>('lab.svc.add', { a: 1 });
expectType<Equal<typeof explicit, Promise<number>>>();

// ---- the helpers agree with the schemas' own type functions ------------------------------
expectType<Equal<PayloadFor<'camera.event.cam-01.motion'>, PayloadOf<'camera.event.cam-01.motion'>>>();
expectType<Equal<PayloadFor<'camera.rpc.x.ptz-move'>, RpcRequestByAction['ptz-move']>>();
expectType<Equal<PayloadFor<'camera.rpc.x.ptz-move'>, PayloadOf<'camera.rpc.x.ptz-move'>>>();
expectType<Equal<ReplyFor<'camera.rpc.x.users-list'>, ReplyOf<'camera.rpc.x.users-list'>>>();
expectType<Equal<ResultFor<'camera.rpc.x.users-list'>, RpcResultByAction['users-list']>>();
expectType<Equal<PayloadFor<'alert.night'>, PayloadOf<'alert.night'>>>();
expectType<Equal<PayloadFor<'camera.event.cam-01.motion'>, CameraEventMotion>>();
expectType<Equal<PayloadFor<string>, unknown>>();
expectType<Equal<ReplyFor<'camera.status.cam-01'>, unknown>>();
// @ts-expect-error the check itself can fail (a motion payload is not a status)
expectType<Equal<PayloadFor<'camera.event.cam-01.motion'>, CameraStatus>>();
