/** Reads a V8 .cpuprofile (from `node --cpu-prof`) and ranks functions by self time. */
import { readFileSync } from 'node:fs';

type CpuProfile = {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
};

export type ProfileRow = { fn: string; where: string; selfMs: number; pct: number };
export type ProfileSummary = { file: string; totalMs: number; idleMs: number; top: ProfileRow[]; byFile: Array<{ where: string; selfMs: number; pct: number }> };

/** Top functions by self time; percentages are of non-idle time. */
export function summarizeProfile(file: string, topN = 20, root = ''): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  const rows = new Map<string, ProfileRow>();
  const files = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (n === undefined) continue;
    const name = n.callFrame.functionName || '(anonymous)';
    total += us;
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    const url = shorten(n.callFrame.url, root);
    const where = url === '' ? '' : `${url}:${n.callFrame.lineNumber + 1}`;
    const key = `${name} ${where}`;
    const row = rows.get(key) ?? { fn: name, where, selfMs: 0, pct: 0 };
    row.selfMs += us / 1000;
    rows.set(key, row);
    const f = url === '' ? name : url;
    files.set(f, (files.get(f) ?? 0) + us / 1000);
  }
  const busyMs = (total - idle) / 1000;
  const top = [...rows.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, topN);
  for (const r of top) r.pct = (100 * r.selfMs) / busyMs;
  const byFile = [...files.entries()]
    .map(([where, selfMs]) => ({ where, selfMs, pct: (100 * selfMs) / busyMs }))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, 12);
  return { file, totalMs: total / 1000, idleMs: idle / 1000, top, byFile };
}

function shorten(url: string, root: string): string {
  let u = url.replace(/^file:\/\//, '');
  if (root !== '' && u.startsWith(root)) u = u.slice(root.length);
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) u = u.slice(nm);
  return u;
}
