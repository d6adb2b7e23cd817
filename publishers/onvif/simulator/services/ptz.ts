/**
 * PTZ service (ver20/ptz/wsdl) over the generic spaces.
 */
import { parseDuration } from '../duration.js';
import type { PtzModel } from '../ptz-model.js';
import { Faults, NS } from '../soap.js';
import type { PtzVector } from '../types.js';
import { attr, child, childText, type XmlElement } from '../xml.js';
import type { CameraState, Operation, OperationContext } from './context.js';
import { profileFor } from './media.js';

/** The PTZ head behind the request's profile, or the fault a device gives for a non-PTZ profile. */
function headFor(cam: CameraState, ctx: OperationContext): PtzModel {
  const profile = profileFor(cam, childText(ctx.op, 'ProfileToken'));
  if (!cam.ptz || !profile.ptz) {
    throw Faults.invalidArg('NoPTZProfile', 'The requested profile token does not reference a PTZ configuration');
  }
  return cam.ptz;
}

function num(el: XmlElement | undefined, name: string): number | undefined {
  const v = attr(el, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw Faults.invalidArg('InvalidArgVal', `${name} is not a number`);
  return n;
}

/** Reads a PTZVector/PTZSpeed element: PanTilt x/y and Zoom x attributes. */
function vector(el: XmlElement | undefined): Partial<PtzVector> {
  const pt = child(el, 'PanTilt');
  const z = child(el, 'Zoom');
  const out: Partial<PtzVector> = {};
  const x = num(pt, 'x');
  const y = num(pt, 'y');
  const zoom = num(z, 'x');
  if (x !== undefined) out.x = x;
  if (y !== undefined) out.y = y;
  if (zoom !== undefined) out.zoom = zoom;
  return out;
}

function outOfRange(v: Partial<PtzVector>, zoomMin: number): boolean {
  return [v.x, v.y].some((n) => n !== undefined && (n < -1 || n > 1)) || (v.zoom !== undefined && (v.zoom < zoomMin || v.zoom > 1));
}

const invalidPosition = (): Error => Faults.invalidArg('InvalidPosition', 'The requested position is out of bounds');
const invalidVelocity = (): Error => Faults.invalidArg('InvalidVelocity', 'The requested velocity is out of bounds');
const GENERIC = 'http://www.onvif.org/ver10/tptz';

export const ptzOperations: readonly Operation[] = [
  {
    ns: NS.tptz,
    name: 'ContinuousMove',
    level: 'Operator',
    handle(cam, ctx) {
      const head = headFor(cam, ctx);
      const v = vector(child(ctx.op, 'Velocity'));
      if (outOfRange(v, -1)) throw invalidVelocity();
      const timeoutText = childText(ctx.op, 'Timeout');
      const timeout = timeoutText === undefined ? undefined : parseDuration(timeoutText);
      if (timeoutText !== undefined && (timeout === undefined || timeout < 0)) {
        throw Faults.invalidArg('InvalidArgVal', 'Invalid Timeout');
      }
      head.continuousMove(v, timeout);
      return '<tptz:ContinuousMoveResponse/>';
    },
  },
  {
    ns: NS.tptz,
    name: 'RelativeMove',
    level: 'Operator',
    handle(cam, ctx) {
      const head = headFor(cam, ctx);
      const t = vector(child(ctx.op, 'Translation'));
      if (outOfRange(t, -1)) throw Faults.invalidArg('InvalidTranslation', 'The requested translation is out of bounds');
      head.relativeMove(t);
      return '<tptz:RelativeMoveResponse/>';
    },
  },
  {
    ns: NS.tptz,
    name: 'AbsoluteMove',
    level: 'Operator',
    handle(cam, ctx) {
      const head = headFor(cam, ctx);
      const p = vector(child(ctx.op, 'Position'));
      if (outOfRange(p, 0)) throw invalidPosition();
      head.absoluteMove(p);
      return '<tptz:AbsoluteMoveResponse/>';
    },
  },
  {
    ns: NS.tptz,
    name: 'Stop',
    level: 'Operator',
    handle(cam, ctx) {
      const head = headFor(cam, ctx);
      const panTilt = childText(ctx.op, 'PanTilt');
      const zoom = childText(ctx.op, 'Zoom');
      // Neither flag given means stop everything.
      const all = panTilt === undefined && zoom === undefined;
      head.stop(all || panTilt === 'true', all || zoom === 'true');
      return '<tptz:StopResponse/>';
    },
  },
  {
    ns: NS.tptz,
    name: 'GetStatus',
    level: 'User',
    handle(cam, ctx) {
      const head = headFor(cam, ctx);
      const p = head.position();
      const m = head.moving();
      return (
        '<tptz:GetStatusResponse><tptz:PTZStatus><tt:Position>' +
        `<tt:PanTilt x="${p.x}" y="${p.y}" space="${GENERIC}/PanTiltSpaces/PositionGenericSpace"/>` +
        `<tt:Zoom x="${p.zoom}" space="${GENERIC}/ZoomSpaces/PositionGenericSpace"/></tt:Position>` +
        `<tt:MoveStatus><tt:PanTilt>${m.panTilt ? 'MOVING' : 'IDLE'}</tt:PanTilt><tt:Zoom>${m.zoom ? 'MOVING' : 'IDLE'}</tt:Zoom></tt:MoveStatus>` +
        `<tt:UtcTime>${new Date(cam.now()).toISOString()}</tt:UtcTime>` +
        '</tptz:PTZStatus></tptz:GetStatusResponse>'
      );
    },
  },
];
