/**
 * kill -9 in the middle of appends, for every fsync policy. A child process (durable-log-child.ts)
 * appends deterministic records as fast as it can with many confirms in flight, printing each mid
 * once sync() resolved; the test SIGKILLs it at a random point, lets a new child recover and go on,
 * three times, then reopens the directory and checks: every confirmed mid is there with exactly
 * its record, nothing else is there but records some child really wrote, nothing is lost between
 * them, and mids are strictly increasing (contiguous within one boot).
 *
 * What this cannot show: loss of the page cache (power loss). That is what fsync is for, and no
 * test without a power switch (or a fault-injecting block device) can observe it.
 *
 * The child runs under plain node from a transpiled copy of bus/durable and the two test helpers
 * (TypeScript's transpileModule, as test/onvif-simulator/ts-loader.mjs does), so the test depends
 * neither on a prior build nor on module hooks.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DurableLog, type FsyncPolicy, type StoredRecord } from '../bus/durable/index.js';
import { currentBootId } from '../bus/durable/state.js';
import { BASE_TIME, gen } from './durable-log-gen.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const ROUNDS = 3;
const ROUND_SPAN = 1_000_000; // round r writes n = r × ROUND_SPAN, r × ROUND_SPAN + 1, …

let work: string;
let childJs: string;

/** Transpiles the child and what it imports into `out`, keeping the relative layout. */
function transpileChild(out: string): string {
  const files = [
    ...readdirSync(join(ROOT, 'bus/durable'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `bus/durable/${f}`),
    'test/durable-log-child.ts',
    'test/durable-log-gen.ts',
  ];
  for (const rel of files) {
    const src = readFileSync(join(ROOT, rel), 'utf8');
    const { outputText } = ts.transpileModule(src, {
      fileName: rel,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    const dest = join(out, rel.replace(/\.ts$/, '.js'));
    mkdirSync(join(dest, '..'), { recursive: true });
    writeFileSync(dest, outputText);
  }
  writeFileSync(join(out, 'package.json'), '{"type":"module"}');
  return join(out, 'test/durable-log-child.js');
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'udsbus-durable-crash-'));
  childJs = transpileChild(join(work, 'code'));
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

type Round = {
  confirmed: Array<{ mid: number; n: number }>;
  open: { recovery: { cutBytes: number; reason: string } | null; stats: { lastMid: number } };
};

/** Runs one child until it has confirmed `killAfter` records (plus a random moment), then SIGKILLs it. */
function runRound(dir: string, policy: FsyncPolicy, firstN: number, killAfter: number): Promise<Round> {
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  const child = spawn(process.execPath, [childJs, dir, policy, String(firstN)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const round: Round = { confirmed: [], open: { recovery: null, stats: { lastMid: 0 } } };
  let buffered = '';
  let stderr = '';
  let killing = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child made too little progress (${round.confirmed.length} confirmed)\n${stderr}`));
    }, 60_000);
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.on('data', (c: Buffer) => {
      buffered += c.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!; // a line cut by the kill is not a confirmation
      for (const line of lines) {
        if (line.startsWith('open ')) round.open = JSON.parse(line.slice(5)) as Round['open'];
        else if (line.startsWith('ok ')) {
          const [, mid, n] = line.split(' ');
          round.confirmed.push({ mid: Number(mid), n: Number(n) });
        }
      }
      if (!killing && round.confirmed.length >= killAfter) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 20));
      }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited by itself (code ${code})\n${stderr}`));
      else resolve(round);
    });
  });
}

function readAll(log: DurableLog): StoredRecord[] {
  const out: StoredRecord[] = [];
  let next = 1;
  for (;;) {
    const recs = log.read(next, 500, 4 << 20);
    if (recs.length === 0) return out;
    out.push(...recs);
    next = recs[recs.length - 1]!.mid + 1;
  }
}

describe('kill -9 in the middle of appends', () => {
  const killAt: Record<FsyncPolicy, [number, number]> = {
    always: [5, 120], // one fdatasync per append: a few hundred per second
    batch: [50, 3000],
    never: [50, 3000],
  };

  for (const policy of ['always', 'batch', 'never'] as const) {
    it(`fsync '${policy}': every confirmed record survives intact, nothing is invented or lost`, async () => {
      const dir = join(work, `log-${policy}`);
      const rounds: Round[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const [lo, hi] = killAt[policy];
        const killAfter = lo + Math.floor(Math.random() * (hi - lo));
        const round = await runRound(dir, policy, r * ROUND_SPAN, killAfter);
        expect(round.confirmed.length).toBeGreaterThanOrEqual(killAfter);
        rounds.push(round);
      }
      const cuts = rounds.map((r) => r.open.recovery).filter((x) => x !== null);
      console.log(
        `${policy}: confirmed per round ${rounds.map((r) => r.confirmed.length).join(', ')}; ` +
          `recoveries cut ${cuts.length === 0 ? 'nothing' : cuts.map((c) => `${c.cutBytes} B (${c.reason})`).join('; ')}`,
      );

      const log = DurableLog.open(dir, { fsync: 'never' });
      try {
        const recs = readAll(log);
        const byMid = new Map(recs.map((r) => [r.mid, r]));
        // Nothing invented: every record is exactly gen(n) for the n its time names.
        for (const r of recs) {
          const n = r.time - BASE_TIME;
          const g = gen(n);
          expect(r.topic).toBe(g.topic);
          expect(r.hdr).toEqual(g.hdr);
          expect(r.payload.equals(g.payload), `payload of mid ${r.mid} (n ${n})`).toBe(true);
        }
        // Strictly increasing mids; within one boot, contiguous from 1.
        for (let i = 1; i < recs.length; i++) expect(recs[i]!.mid).toBeGreaterThan(recs[i - 1]!.mid);
        if (currentBootId().some((b) => b !== 0)) expect(recs.map((r) => r.mid)).toEqual(recs.map((_, i) => i + 1));
        // Every confirmed mid is present with its record.
        for (const round of rounds) {
          for (const c of round.confirmed) {
            const r = byMid.get(c.mid);
            expect(r, `confirmed mid ${c.mid}`).toBeDefined();
            expect(r!.time - BASE_TIME).toBe(c.n);
          }
        }
        // Nothing lost in between: each round's records are its first k, in order, k ≥ confirmed.
        for (let r = 0; r < ROUNDS; r++) {
          const ns = recs.map((x) => x.time - BASE_TIME).filter((n) => n >= r * ROUND_SPAN && n < (r + 1) * ROUND_SPAN);
          expect(ns).toEqual(ns.map((_, i) => r * ROUND_SPAN + i));
          expect(ns.length).toBeGreaterThanOrEqual(rounds[r]!.confirmed.length);
        }
        expect(log.stats().count).toBe(recs.length);
      } finally {
        log.close();
      }
    });
  }
});
