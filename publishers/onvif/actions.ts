/**
 * The camera actions behind `camera.rpc.<id>.<action>`: one function per action, taking a
 * request already checked against its schema and returning the reply schema's `result`, or
 * throwing a CameraError (classified camera failure).
 *
 * The library puts strings into its SOAP bodies without escaping them, so every string that
 * comes from a request is XML-escaped here: a username like `a</Username>…` stays a username.
 */
import type { CameraRpcAction } from '../../schemas/topics.js';
import type { RpcRequestByAction, RpcResultByAction } from '../../schemas/rpc.js';
import { CameraError, classify } from './errors.js';
import type { LibCallback } from './onvif-lib.js';
import { deviceInfoFromXml, uriFromXml, usersFromXml } from './raw-xml.js';
import { fromParsed, type CameraSession } from './session.js';

export function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', '"': 'quot', "'": 'apos' }[c]!};`);
}

/** `rtsp://user:pass@host/x` → `rtsp://host/x`: URIs on the bus never carry credentials. */
export function stripCredentials(uri: string): string {
  return uri.trim().replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#@]*@/, '$1');
}

function profileFor(s: CameraSession, requested: string | undefined, preferPtz = false): string {
  if (requested !== undefined) {
    if (!s.profiles.some((p) => p.token === requested)) {
      const have = s.profiles.map((p) => p.token).join(', ') || 'none';
      throw new CameraError('not-found', `no media profile "${requested}" (the camera has: ${have})`);
    }
    return requested;
  }
  const first = (preferPtz ? s.profiles.find((p) => p.ptz === true) : undefined) ?? s.profiles[0];
  if (first === undefined) throw new CameraError('not-found', 'the camera reports no media profiles');
  return first.token;
}

function requirePtz(s: CameraSession): void {
  if (s.cam.uri?.ptz === undefined && s.cam.uri?.['PTZ'] === undefined) {
    throw new CameraError('camera-fault', 'the camera has no PTZ service');
  }
}

async function attempt<T>(p: Promise<T>, notFoundSubcodes: readonly string[] = []): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw classify(err, notFoundSubcodes);
  }
}

type Handler<A extends CameraRpcAction> = (s: CameraSession, req: RpcRequestByAction[A]) => Promise<RpcResultByAction[A]>;

const handlers: { [A in CameraRpcAction]: Handler<A> } = {
  async info(s) {
    const { data, xml } = await attempt(
      s.request<Record<string, unknown>>('GetDeviceInformation', (cb) => s.cam.getDeviceInformation(cb as LibCallback)),
    );
    const d = deviceInfoFromXml(xml) ?? fromParsed(data);
    return { manufacturer: d.manufacturer, model: d.model, firmware: d.firmware, serial: d.serial, hardwareId: d.hardwareId };
  },

  async 'stream-uri'(s, req) {
    const profile = profileFor(s, req.profile);
    const opts = { profileToken: xmlEscape(profile), protocol: req.transport ?? 'RTSP', stream: req.stream ?? 'RTP-Unicast' };
    const { data, xml } = await attempt(
      s.request<{ uri?: unknown }>('GetStreamUri', (cb) => s.cam.getStreamUri(opts, cb as LibCallback)),
      ['NoProfile'],
    );
    const uri = uriFromXml(xml) ?? (typeof data?.uri === 'string' ? data.uri : undefined);
    if (uri === undefined || uri === '') throw new CameraError('camera-fault', 'the camera returned no stream URI');
    return { uri: stripCredentials(uri), profile };
  },

  async 'snapshot-uri'(s, req) {
    const profile = profileFor(s, req.profile);
    const { data, xml } = await attempt(
      s.request<{ uri?: unknown }>('GetSnapshotUri', (cb) => s.cam.getSnapshotUri({ profileToken: xmlEscape(profile) }, cb as LibCallback)),
      ['NoProfile'],
    );
    const uri = uriFromXml(xml) ?? (typeof data?.uri === 'string' ? data.uri : undefined);
    if (uri === undefined || !/^https?:\/\//i.test(uri.trim())) {
      throw new CameraError('camera-fault', `the camera returned no http(s) snapshot URI${uri ? `: ${stripCredentials(uri)}` : ''}`);
    }
    return { uri: stripCredentials(uri), profile };
  },

  async 'users-list'(s) {
    const { xml } = await attempt(s.request('GetUsers', (cb) => s.cam.getUsers(cb as LibCallback)));
    const users = usersFromXml(xml);
    if (users === undefined) throw new CameraError('camera-fault', 'the camera answered GetUsers with something else');
    return { users };
  },

  async 'users-create'(s, req) {
    // createUsers takes an array (the typings say otherwise) and re-reads the users afterwards.
    const user = { username: xmlEscape(req.username), password: xmlEscape(req.password), userLevel: req.level };
    await attempt(s.request('CreateUsers', (cb) => s.cam.createUsers([user], cb as LibCallback)));
    return { username: req.username };
  },

  async 'users-delete'(s, req) {
    await attempt(
      s.request('DeleteUsers', (cb) => s.cam.deleteUsers([xmlEscape(req.username)], cb as LibCallback)),
      ['UsernameMissing'],
    );
    return { username: req.username };
  },

  async 'ptz-move'(s, req) {
    requirePtz(s);
    const profileToken = xmlEscape(profileFor(s, req.profile, true));
    const speed = (v: { pan?: number; tilt?: number; zoom?: number } | undefined) =>
      v === undefined
        ? {}
        : {
            speed: {
              ...(v.pan !== undefined || v.tilt !== undefined ? { x: v.pan ?? v.tilt, y: v.tilt ?? v.pan } : {}),
              ...(v.zoom !== undefined ? { zoom: v.zoom } : {}),
            },
          };
    // Only the axes asked for are sent (the library would otherwise send 0 for the others).
    const axes = (v: { pan?: number; tilt?: number; zoom?: number }) => ({
      x: v.pan ?? 0,
      y: v.tilt ?? 0,
      zoom: v.zoom ?? 0,
      ...(v.zoom === undefined ? { onlySendPanTilt: true } : {}),
      ...(v.pan === undefined && v.tilt === undefined ? { onlySendZoom: true } : {}),
    });
    if (req.mode === 'continuous') {
      const o = { profileToken, ...axes(req.velocity), ...(req.timeoutMs !== undefined ? { timeout: req.timeoutMs } : {}) };
      await attempt(s.request('ContinuousMove', (cb) => s.cam.continuousMove(o, cb as LibCallback)));
    } else if (req.mode === 'relative') {
      const t = req.translation;
      const o = { profileToken, x: t.pan ?? 0, y: t.tilt ?? 0, zoom: t.zoom ?? 0, ...speed(req.speed) };
      await attempt(s.request('RelativeMove', (cb) => s.cam.relativeMove(o, cb as LibCallback)));
    } else {
      const o = { profileToken, ...axes(req.position), ...speed(req.speed) };
      await attempt(s.request('AbsoluteMove', (cb) => s.cam.absoluteMove(o, cb as LibCallback)));
    }
    return {};
  },

  async 'ptz-stop'(s, req) {
    requirePtz(s);
    const o = {
      profileToken: xmlEscape(profileFor(s, req.profile, true)),
      // Strings: the library leaves out `false` booleans, and an absent element means "stop it".
      panTilt: String(req.panTilt ?? true),
      zoom: String(req.zoom ?? true),
    };
    await attempt(s.request('Stop', (cb) => s.cam.stop(o as never, cb as LibCallback)));
    return {};
  },
};

/** Runs `action` against the camera's live session. */
export function runAction<A extends CameraRpcAction>(action: A, session: CameraSession, req: RpcRequestByAction[A]): Promise<RpcResultByAction[A]> {
  return (handlers[action] as Handler<A>)(session, req);
}
