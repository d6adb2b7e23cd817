/**
 * Request/reply schemas of the ONVIF worker on camera.rpc.<cameraId>.<action>.
 *
 * RPC messages carry no `v`: they are exchanged between live peers and never retained,
 * so an incompatible request is simply answered with `invalid-argument`.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Closed, HTTP_URI_PATTERN, URI_PATTERN } from './common.js';
import { ErrorCode } from './payloads.js';
import type { CameraRpcAction } from './topics.js';

export const RpcError = Closed(
  {
    code: ErrorCode,
    message: Type.String({ description: 'Human-readable detail; never contains credentials.' }),
  },
  { description: 'Why the request failed.' },
);
export type RpcError = Static<typeof RpcError>;

/** `{ok: true, result}` or `{ok: false, error}`. */
export type RpcReply<R> = { ok: true; result: R } | { ok: false; error: RpcError };

function reply<R extends TSchema>(result: R, title: string, description: string) {
  return Type.Union(
    [
      Closed({ ok: Type.Literal(true), result }),
      Closed({ ok: Type.Literal(false), error: RpcError }),
    ],
    { title, description },
  );
}

const ProfileToken = Type.String({
  minLength: 1,
  description: 'Media profile token; defaults to the first profile of the camera.',
});
const Empty = Closed({});
const UserLevel = Type.Union([
  Type.Literal('Administrator'),
  Type.Literal('Operator'),
  Type.Literal('User'),
  Type.Literal('Anonymous'),
  Type.Literal('Extended'),
]);
const Username = Type.String({ minLength: 1, maxLength: 64 });

// Generic ONVIF PTZ spaces: pan/tilt/zoom normalised to [-1, 1] (absolute zoom uses [0, 1]).
const axis = (min: number) => Type.Optional(Type.Number({ minimum: min, maximum: 1 }));
const PtzVector = (panTiltMin: number, zoomMin: number, description: string) =>
  Closed({ pan: axis(panTiltMin), tilt: axis(panTiltMin), zoom: axis(zoomMin) }, { minProperties: 1, description });
const PtzSpeed = Type.Optional(PtzVector(0, 0, 'Speed per axis, 0..1 of the maximum.'));

// ---------------------------------------------------------------- requests

export const InfoRequest = Closed({}, { title: 'CameraRpcInfoRequest', description: 'camera.rpc.<cameraId>.info request.' });
export const StreamUriRequest = Closed(
  {
    profile: Type.Optional(ProfileToken),
    stream: Type.Optional(Type.Union([Type.Literal('RTP-Unicast'), Type.Literal('RTP-Multicast')])),
    transport: Type.Optional(Type.Union([Type.Literal('UDP'), Type.Literal('TCP'), Type.Literal('RTSP'), Type.Literal('HTTP')])),
  },
  { title: 'CameraRpcStreamUriRequest', description: 'camera.rpc.<cameraId>.stream-uri request.' },
);
export const SnapshotUriRequest = Closed(
  { profile: Type.Optional(ProfileToken) },
  { title: 'CameraRpcSnapshotUriRequest', description: 'camera.rpc.<cameraId>.snapshot-uri request.' },
);
export const UsersListRequest = Closed(
  {},
  { title: 'CameraRpcUsersListRequest', description: 'camera.rpc.<cameraId>.users-list request.' },
);
export const UsersCreateRequest = Closed(
  {
    username: Username,
    password: Type.String({ minLength: 1, maxLength: 128, description: 'Audit subscribers must redact this field.' }),
    level: UserLevel,
  },
  { title: 'CameraRpcUsersCreateRequest', description: 'camera.rpc.<cameraId>.users-create request.' },
);
export const UsersDeleteRequest = Closed(
  { username: Username },
  { title: 'CameraRpcUsersDeleteRequest', description: 'camera.rpc.<cameraId>.users-delete request.' },
);
export const PtzMoveRequest = Type.Union(
  [
    Closed({
      mode: Type.Literal('continuous'),
      profile: Type.Optional(ProfileToken),
      velocity: PtzVector(-1, -1, 'Velocity per axis, -1..1.'),
      timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000, description: 'Stop automatically after this long.' })),
    }),
    Closed({
      mode: Type.Literal('relative'),
      profile: Type.Optional(ProfileToken),
      translation: PtzVector(-1, -1, 'Relative move per axis, -1..1.'),
      speed: PtzSpeed,
    }),
    Closed({
      mode: Type.Literal('absolute'),
      profile: Type.Optional(ProfileToken),
      position: PtzVector(-1, 0, 'Target position: pan/tilt -1..1, zoom 0..1.'),
      speed: PtzSpeed,
    }),
  ],
  { title: 'CameraRpcPtzMoveRequest', description: 'camera.rpc.<cameraId>.ptz-move request (discriminated by mode).' },
);
export const PtzStopRequest = Closed(
  {
    profile: Type.Optional(ProfileToken),
    panTilt: Type.Optional(Type.Boolean({ description: 'Stop pan/tilt (default true).' })),
    zoom: Type.Optional(Type.Boolean({ description: 'Stop zoom (default true).' })),
  },
  { title: 'CameraRpcPtzStopRequest', description: 'camera.rpc.<cameraId>.ptz-stop request.' },
);

// ---------------------------------------------------------------- results

export const InfoResult = Closed({
  manufacturer: Type.String(),
  model: Type.String(),
  firmware: Type.String(),
  serial: Type.String(),
  hardwareId: Type.String(),
});
export const UriResult = (pattern: string) =>
  Closed({
    uri: Type.String({ pattern, description: 'As reported by the camera; no credentials are embedded.' }),
    profile: Type.String({ minLength: 1, description: 'Profile token the URI belongs to.' }),
  });
export const StreamUriResult = UriResult(URI_PATTERN);
export const SnapshotUriResult = UriResult(HTTP_URI_PATTERN);
export const UsersListResult = Closed({ users: Type.Array(Closed({ username: Username, level: UserLevel })) });
export const UserResult = Closed({ username: Username });

export const RPC_SCHEMAS = {
  info: {
    request: InfoRequest,
    reply: reply(InfoResult, 'CameraRpcInfoReply', 'camera.rpc.<cameraId>.info reply: ONVIF device information.'),
  },
  'stream-uri': {
    request: StreamUriRequest,
    reply: reply(StreamUriResult, 'CameraRpcStreamUriReply', 'camera.rpc.<cameraId>.stream-uri reply.'),
  },
  'snapshot-uri': {
    request: SnapshotUriRequest,
    reply: reply(SnapshotUriResult, 'CameraRpcSnapshotUriReply', 'camera.rpc.<cameraId>.snapshot-uri reply.'),
  },
  'users-list': {
    request: UsersListRequest,
    reply: reply(UsersListResult, 'CameraRpcUsersListReply', 'camera.rpc.<cameraId>.users-list reply.'),
  },
  'users-create': {
    request: UsersCreateRequest,
    reply: reply(UserResult, 'CameraRpcUsersCreateReply', 'camera.rpc.<cameraId>.users-create reply.'),
  },
  'users-delete': {
    request: UsersDeleteRequest,
    reply: reply(UserResult, 'CameraRpcUsersDeleteReply', 'camera.rpc.<cameraId>.users-delete reply.'),
  },
  'ptz-move': {
    request: PtzMoveRequest,
    reply: reply(Empty, 'CameraRpcPtzMoveReply', 'camera.rpc.<cameraId>.ptz-move reply.'),
  },
  'ptz-stop': {
    request: PtzStopRequest,
    reply: reply(Empty, 'CameraRpcPtzStopReply', 'camera.rpc.<cameraId>.ptz-stop reply.'),
  },
} as const satisfies Record<CameraRpcAction, { request: TSchema; reply: TSchema }>;

export type RpcRequestByAction = { [A in CameraRpcAction]: Static<(typeof RPC_SCHEMAS)[A]['request']> };
export type RpcReplyByAction = { [A in CameraRpcAction]: Static<(typeof RPC_SCHEMAS)[A]['reply']> };
export type RpcResultByAction = {
  [A in CameraRpcAction]: Extract<RpcReplyByAction[A], { ok: true }>['result'];
};
