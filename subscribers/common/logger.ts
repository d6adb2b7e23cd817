/**
 * Logging for subscriber processes: pino, JSON lines on stderr (stdout stays free for
 * command output). Library users pass their own pino logger.
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * A pino logger writing synchronously to stderr, so the last lines before a crash or
 * process.exit() are not lost in a buffer. Level from `level`, else UDSBUS_LOG_LEVEL, else info.
 */
export function createLogger(name: string, level?: string): Logger {
  return pino({ name, level: level ?? process.env['UDSBUS_LOG_LEVEL'] ?? 'info' }, pino.destination({ dest: 2, sync: true }));
}

/** The error fields worth logging, without pino's serializer having to guess. */
export function errFields(err: unknown): { err: { message: string; code?: string; stack?: string } } {
  const e = err as { message?: unknown; code?: unknown; stack?: unknown };
  const out: { message: string; code?: string; stack?: string } = { message: String(e?.message ?? err) };
  if (typeof e?.code === 'string') out.code = e.code;
  if (typeof e?.stack === 'string') out.stack = e.stack;
  return { err: out };
}
