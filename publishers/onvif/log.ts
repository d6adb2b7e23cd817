/**
 * Logging for the ONVIF publisher: the subset of pino it uses, a silent default, and helpers
 * that keep credentials out of every line.
 */

/** What the publisher calls on a logger; a pino logger fits. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** `http://user:pass@host:80/x` → `http://host:80/x`; anything unparsable is dropped to its scheme. */
export function redactUrl(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#@]*@/, '$1');
}

/** An error as a log field: message and code only (never the request options it may carry). */
export function errField(err: unknown): { message: string; code?: string } {
  const e = err as { message?: unknown; code?: unknown };
  const message = redactUrl(String(e?.message ?? err));
  return typeof e?.code === 'string' ? { message, code: e.code } : { message };
}
