#!/usr/bin/env node
/**
 * `npm run bench [-- options]`: run the scenarios, print the table, write JSON and SVG under
 * bench/results/. See `npm run bench -- --help`.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatReport, PACKAGE_ROOT, runBench, SCENARIOS, type BenchOptions, type ScenarioName, type Sizes, type SystemName } from './index.js';

const HELP = `usage: npm run bench -- [options]

  --quick               smoke sizes (a few seconds); peers skipped unless --peers
  --matrix              add the opaque table: payloads of 64 B, 200 B, 1 KiB, 16 KiB × 1, 3, 16
                        subscribers, each against raw and the peers (long: ~36 fan-outs a system)
  --payload-bytes N     opaque fan-out payload size (default 200)
  --scenario NAME       ${SCENARIOS.join(', ')} (repeat or comma-separate; default all but matrix)
  --runs N              repeat N times and report medians (default 1)
  --peers / --no-peers  include Mosquitto, Redis, NATS where installed (default: on, off with --quick)
  --systems LIST        only these of udsbus, udsbus-tcp, raw, nats, mosquitto, redis
  --socket PATH         measure a broker that is already running on PATH
  --tcp HOST:PORT       that broker's TCP listener (for the tcp scenario)
  --messages N          message count of the fan-out runs (default 200,000; opaque and slow 1,000,000)
  --rate N --duration MS  latency scenario publish rate and length (default 5,000/s for 5,000 ms)
  --connections N       connection-scale count (default 10,000)
  --queue-bytes N --queue-msgs N  the udsbus broker's per-connection outbound queue limits
                        (default: the broker's defaults, 8 MiB and 65,536)
  --profile             run the broker and one subscriber under --cpu-prof; print top self time
  --out DIR             where to write JSON and SVG (default bench/results)
  --json                print the JSON report instead of the table
`;

function parseBenchArgs(argv: string[]): BenchOptions & { json: boolean; help: boolean } {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      matrix: { type: 'boolean', default: false },
      'payload-bytes': { type: 'string' },
      scenario: { type: 'string', multiple: true },
      runs: { type: 'string' },
      peers: { type: 'boolean' },
      'no-peers': { type: 'boolean' },
      systems: { type: 'string' },
      socket: { type: 'string' },
      tcp: { type: 'string' },
      messages: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      'queue-bytes': { type: 'string' },
      'queue-msgs': { type: 'string' },
      profile: { type: 'boolean', default: false },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  const num = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v.replace(/_/g, ''));
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${v}"`);
    return n;
  };
  const opts: BenchOptions & { json: boolean; help: boolean } = { json: values.json, help: values.help, quick: values.quick, profile: values.profile, matrix: values.matrix };
  if (values.scenario !== undefined) {
    const names = values.scenario.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
    for (const n of names) if (!(SCENARIOS as readonly string[]).includes(n)) throw new Error(`unknown scenario "${n}": choose from ${SCENARIOS.join(', ')}`);
    opts.scenarios = names as ScenarioName[];
  }
  if (values.systems !== undefined) opts.systems = values.systems.split(',').map((s) => s.trim()) as SystemName[];
  const runs = num('runs', values.runs);
  if (runs !== undefined) opts.runs = runs;
  if (values['no-peers'] === true) opts.peers = false;
  else if (values.peers !== undefined) opts.peers = values.peers;
  if (values.socket !== undefined) opts.socket = values.socket;
  if (values.tcp !== undefined) opts.tcp = values.tcp;
  opts.outDir = values.out ?? join(PACKAGE_ROOT, 'bench', 'results');
  const sizes: Partial<Sizes> = {};
  const messages = num('messages', values.messages);
  if (messages !== undefined) sizes.fanoutMsgs = sizes.slowMsgs = sizes.opaqueMsgs = Math.floor(messages);
  const payloadBytes = num('payload-bytes', values['payload-bytes']);
  if (payloadBytes !== undefined) {
    if (payloadBytes < 4) throw new Error('--payload-bytes must be at least 4 (the position is in the first 4 bytes)');
    sizes.opaqueBytes = Math.floor(payloadBytes);
  }
  const rate = num('rate', values.rate);
  if (rate !== undefined) sizes.latRate = rate;
  const duration = num('duration', values.duration);
  if (duration !== undefined) sizes.latMs = duration;
  const connections = num('connections', values.connections);
  if (connections !== undefined) sizes.scaleConns = Math.floor(connections);
  if (Object.keys(sizes).length > 0) opts.sizes = sizes;
  const qb = num('queue-bytes', values['queue-bytes']);
  const qm = num('queue-msgs', values['queue-msgs']);
  if (qb !== undefined || qm !== undefined) opts.brokerLimits = { ...(qb === undefined ? {} : { outQueueBytes: qb }), ...(qm === undefined ? {} : { outQueueMsgs: qm }) };
  return opts;
}

async function main(): Promise<void> {
  let opts;
  try {
    opts = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${HELP}`);
    process.exit(2);
  }
  if (opts.help) {
    process.stdout.write(HELP);
    return;
  }
  const report = await runBench({ ...opts, log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
  process.exitCode = report.errors.length > 0 ? 1 : 0;
}

await main();
