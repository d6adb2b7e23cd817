/** `udsbus bench`: measure a running broker (fan-out, latency, request/reply, slow consumer). */
import type { Command } from 'commander';
import type { BenchOptions, ScenarioName, Sizes } from '../../bench/index.js';

// bench/ is not in the npm package (it is source-checkout tooling), so it is loaded on use.
const SCENARIOS = ['opaque', 'fanout', 'fanout100', 'latency', 'reqrep', 'scale', 'slow', 'tcp', 'matrix'] as const satisfies readonly ScenarioName[];
// Both directions, so a scenario added to bench/index.ts without this list fails the typecheck.
const allListed: ScenarioName extends (typeof SCENARIOS)[number] ? true : never = true;
void allListed;
async function loadBench(): Promise<typeof import('../../bench/index.js')> {
  try {
    return await import('../../bench/index.js');
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      die('udsbus bench is only available in a source checkout (bench/ is not in the npm package): git clone, npm ci, npx udsbus bench', Exit.ERROR);
    }
    throw err;
  }
}
import { die, parseIntOption, socketOption, brokerTrustOption } from '../common.js';
import { Exit, exitCodesHelp } from '../exit-codes.js';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('benchmark a running broker: fan-out, latency, request/reply, slow consumer')
    .addOption(socketOption())
    .addOption(brokerTrustOption())
    .option('--tcp <host:port>', "the broker's TCP listener, to compare UDS with TCP")
    .option('--scenario <names>', `comma-separated: ${SCENARIOS.join(', ')} (default: all but scale and matrix)`)
    .option('--quick', 'smoke sizes: a few seconds')
    .option('--runs <n>', 'repeat and report medians', parseIntOption('--runs'))
    .option('--messages <n>', 'fan-out message count (default 200000)', parseIntOption('--messages'))
    .option('--rate <n>', 'latency publish rate per second (default 5000)', parseIntOption('--rate'))
    .option('--duration <ms>', 'latency run length (default 5000)', parseIntOption('--duration'))
    .option('--out <dir>', 'also write JSON and SVG into this directory')
    .option('--json', 'print the JSON report instead of the table')
    .addHelpText(
      'after',
      `
Publishes 200-byte opaque payloads and ~200-byte camera events under a private "bench.<id>."
topic prefix; subscribers of ">" on that broker will see them. "scale" opens 10,000 connections
and "matrix" (payload sizes × subscriber counts) takes long: both run only when asked.

Examples:
  udsbus bench --quick
  udsbus bench --socket /run/udsbus/bus.sock --scenario fanout,latency --runs 3
  udsbus bench --tcp 127.0.0.1:4222 --scenario tcp
${exitCodesHelp([Exit.OK, Exit.ERROR, Exit.CONNECT])}`,
    )
    .action(async (o) => {
      const opts: BenchOptions = { socket: o.socket, peers: false, quick: o.quick === true, log: (l) => process.stderr.write(`${l}\n`) };
      const names = String(o.scenario ?? SCENARIOS.filter((s) => s !== 'scale' && s !== 'matrix').join(','))
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      for (const n of names) if (!(SCENARIOS as readonly string[]).includes(n)) die(`unknown scenario "${n}": choose from ${SCENARIOS.join(', ')}`, Exit.ERROR);
      // Fail early, with the connect error's advice, rather than once per scenario.
      try {
        const { connect } = await import('udsbus');
        await (await connect({ socket: o.socket, name: 'udsbus-bench', reconnect: false, connectTimeoutMs: 5000 })).close();
      } catch (err) {
        die((err as Error).message, Exit.CONNECT);
      }
      opts.scenarios = names as ScenarioName[];
      if (o.tcp !== undefined) opts.tcp = o.tcp;
      if (o.runs !== undefined) opts.runs = o.runs;
      if (o.out !== undefined) opts.outDir = o.out;
      const sizes: Partial<Sizes> = {};
      if (o.messages !== undefined) sizes.fanoutMsgs = sizes.slowMsgs = o.messages;
      if (o.rate !== undefined) sizes.latRate = o.rate;
      if (o.duration !== undefined) sizes.latMs = o.duration;
      opts.sizes = sizes;
      const { runBench, formatReport } = await loadBench();
      const report = await runBench(opts);
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
      if (report.errors.length > 0) process.exitCode = Exit.ERROR;
    });
}
