/**
 * Time-of-day windows in local time. `from` is inclusive, `to` exclusive; a window whose `to`
 * is earlier than its `from` crosses midnight (22:00–06:00). `days` name the day a window
 * starts on, so "fri 22:00–06:00" covers Saturday 03:00 but not Friday 03:00.
 */
import { DAYS, type TimeWindow } from './config.js';

export type LocalTime = { day: number; minute: number };

/** Day of week (0 = Sunday) and minute of the day of `ms`, in `timeZone` or the system's zone. */
export function localTime(ms: number, timeZone?: string): LocalTime {
  const d = new Date(ms);
  if (timeZone === undefined) return { day: d.getDay(), minute: d.getHours() * 60 + d.getMinutes() };
  const parts = formatter(timeZone).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const day = DAYS.indexOf(get('weekday').toLowerCase().slice(0, 3) as (typeof DAYS)[number]);
  return { day, minute: (Number(get('hour')) % 24) * 60 + Number(get('minute')) };
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  return f;
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

export function inWindow(w: TimeWindow, t: LocalTime): boolean {
  const from = minutes(w.from);
  const to = minutes(w.to);
  const onDay = (day: number) => w.days === undefined || w.days.includes(DAYS[(day + 7) % 7]!);
  if (from < to) return t.minute >= from && t.minute < to && onDay(t.day);
  // Crosses midnight: the evening part belongs to today, the morning part to yesterday's window.
  return (t.minute >= from && onDay(t.day)) || (t.minute < to && onDay(t.day - 1));
}

export function inAnyWindow(windows: readonly TimeWindow[] | undefined, ms: number, timeZone?: string): boolean {
  if (windows === undefined) return true;
  const t = localTime(ms, timeZone);
  return windows.some((w) => inWindow(w, t));
}
