/**
 * Errors of camera operations, classified into the RPC error codes of SCHEMAS.md
 * (`unreachable`, `unauthorized`, `camera-fault`, `invalid-argument`, `not-found`, `timeout`,
 * `internal`). The same classification drives camera.status.
 */
import type { ErrorCode } from '../../schemas/payloads.js';

/** An error with a string `code`: `client.serve()` turns it into `{ok: false, error: {code, message}}`. */
export class CameraError extends Error {
  override readonly name = 'CameraError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What the request hook (onvif-lib.ts) learns about a failed SOAP exchange. */
export interface FaultInfo {
  /** ONVIF fault subcodes, e.g. `['ter:OperationProhibited', 'ter:UsernameClash']`. */
  subcodes: string[];
  httpStatus: number | undefined;
}

/** Set on errors by the request hook. */
export const FAULT_INFO = Symbol('onvif-fault-info');

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

const SOAP_FAULT_PREFIX = 'ONVIF SOAP Fault: ';

/** Local names of subcodes, e.g. `ter:UsernameClash` → `UsernameClash`. */
function localNames(subcodes: readonly string[]): string[] {
  return subcodes.map((s) => s.slice(s.indexOf(':') + 1));
}

/**
 * Classifies anything a camera call can throw. `notFoundSubcodes` lets an action say which
 * camera faults mean "no such thing" for it (e.g. `UsernameMissing` for users-delete).
 */
export function classify(err: unknown, notFoundSubcodes: readonly string[] = []): CameraError {
  if (err instanceof CameraError) return err;
  const e = (err ?? {}) as { message?: unknown; code?: unknown; [FAULT_INFO]?: FaultInfo };
  const message = String(e.message ?? err);
  const info = e[FAULT_INFO];
  const subcodes = localNames(info?.subcodes ?? []);
  const status = info?.httpStatus;

  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) {
    return new CameraError('unreachable', `camera does not answer: ${e.code}`, { cause: err });
  }
  if (message === 'Network timeout' || message === 'socket hang up') {
    return new CameraError('unreachable', `camera does not answer: ${message}`, { cause: err });
  }
  if (
    subcodes.includes('NotAuthorized') ||
    status === 401 ||
    status === 403 ||
    /^Digest authentication (failed|headers not found)/.test(message)
  ) {
    return new CameraError('unauthorized', 'camera rejected the credentials', { cause: err });
  }
  if (message.startsWith(SOAP_FAULT_PREFIX)) {
    const reason = message.slice(SOAP_FAULT_PREFIX.length) || 'SOAP fault';
    const text = info && info.subcodes.length > 0 ? `${reason} (${info.subcodes.join(', ')})` : reason;
    if (subcodes.some((s) => notFoundSubcodes.includes(s))) return new CameraError('not-found', text, { cause: err });
    if (subcodes.includes('InvalidArgVal') || subcodes.includes('InvalidArgs')) {
      return new CameraError('invalid-argument', text, { cause: err });
    }
    return new CameraError('camera-fault', text, { cause: err });
  }
  if (message === 'Wrong ONVIF SOAP response' || /^(Unexpected|Unclosed|Non-whitespace|Invalid|Unmatched)|Text data outside/.test(message)) {
    return new CameraError('camera-fault', `camera sent an unparsable answer: ${message}`, { cause: err });
  }
  if (status !== undefined && status >= 400) {
    return new CameraError('camera-fault', `camera answered HTTP ${status}: ${message}`, { cause: err });
  }
  // The library throws TypeErrors on answers it cannot make sense of; that is the camera's doing.
  return new CameraError('camera-fault', message, { cause: err });
}
