/**
 * xs:duration and the "duration or dateTime" arguments of WS-BaseNotification.
 */

const DURATION = /^(-)?P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** Milliseconds in an xs:duration such as `PT1M` or `PT0.5S`; undefined when it is not one. */
export function parseDuration(s: string): number | undefined {
  const m = DURATION.exec(s.trim());
  if (!m || s.trim() === 'P' || s.trim().endsWith('T')) return undefined;
  const n = (i: number): number => Number(m[i] ?? 0);
  // Years and months have no fixed length; 365 and 30 days are what devices use.
  const ms = (((n(2) * 365 + n(3) * 30 + n(4)) * 24 + n(5)) * 60 + n(6)) * 60_000 + n(7) * 1000;
  return m[1] ? -ms : ms;
}

/** Either a relative duration or an absolute dateTime, turned into milliseconds from `now`. */
export function parseTermination(s: string | undefined, now: number): number | undefined {
  if (s === undefined || s === '') return undefined;
  const d = parseDuration(s);
  if (d !== undefined) return d;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t - now;
}

export function formatDurationSeconds(ms: number): string {
  return `PT${Math.round(ms / 1000)}S`;
}
