/**
 * `udsbus dashboard`: the live web view (subscribers/dashboard). Settings from `--config FILE`
 * (see examples/dashboard.config.json), or from flags for a quick look; flags win over the file.
 */
import { Option, type Command } from 'commander';
import type { DashboardConfig } from '../../subscribers/dashboard/config.js';
import { die, socketOption } from '../common.js';
import type { Component, RunOptions } from './run.js';

type Flags = { config?: string; listen?: string; unix?: string; recordings?: string; index?: string; audit?: string; snapshots?: string; tokenFile?: string; actions?: boolean };

function options(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'configuration file (JSON; see examples/dashboard.config.json)')
    .option('--listen <host:port>', 'TCP address (default 127.0.0.1:0, a free port); not loopback only with --token-file')
    .option('--unix <path>', 'serve on this Unix socket instead (mode 0660), e.g. for a reverse proxy')
    .option('--recordings <dir>', 'serve clips from inside this directory')
    .option('--index <file>', "the recording subscriber's session index (sessions.jsonl)")
    .option('--audit <dir>', "the audit subscriber's log directory (verify status, last checkpoint)")
    .option('--snapshots <dir>', "the ONVIF publisher's snapshot spool: camera cards show the latest snapshot")
    .option('--token-file <file>', 'access token for TCP (default: a random one, printed in the URL)')
    .addOption(new Option('--actions', 'allow camera actions (PTZ, snapshot URI) from the page; default read-only'))
    .addHelpText(
      'after',
      '\nPrints "dashboard: URL" on stdout; open it in a browser (docs/dashboard.md).\n\nExamples:\n  udsbus dashboard\n  udsbus dashboard --listen 127.0.0.1:8650 --index /var/lib/udsbus/recording/sessions.jsonl --recordings /var/lib/udsbus/recording\n  udsbus dashboard --unix /run/udsbus/dashboard.sock --audit /var/lib/udsbus/audit\n  udsbus dashboard --snapshots /var/spool/udsbus/snapshots\n  udsbus run dashboard --config /etc/udsbus/dashboard.json\n\nExit codes:\n  0  stopped by SIGINT/SIGTERM\n  1  invalid config or a failure\n  2  cannot connect to the broker',
    );
}

// The dashboard's modules (HTTP, schemas, config) load only when it runs: cli/main.ts registers
// this command in every process, the broker's too.
async function configFrom(o: Flags): Promise<DashboardConfig> {
  const { checkDashboardConfig, DashboardConfig, loadDashboardConfig } = await import('../../subscribers/dashboard/config.js');
  const { validateConfig } = await import('../../subscribers/common/config.js');
  const base: DashboardConfig = o.config === undefined ? {} : loadDashboardConfig(o.config);
  const c: Record<string, unknown> = { ...base };
  if (o.listen !== undefined) {
    const m = /^(.*):(\d+)$/.exec(o.listen);
    if (m === null) die(`--listen wants host:port, got "${o.listen}"`);
    c['listen'] = { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  }
  if (o.unix !== undefined) c['listen'] = { path: o.unix };
  if (o.recordings !== undefined || o.index !== undefined) {
    c['recordings'] = { ...base.recordings, ...(o.recordings === undefined ? {} : { dir: o.recordings }), ...(o.index === undefined ? {} : { indexFile: o.index }) };
  }
  if (o.audit !== undefined) c['auditDir'] = o.audit;
  if (o.snapshots !== undefined) c['snapshotsDir'] = o.snapshots;
  if (o.tokenFile !== undefined) {
    delete c['token'];
    c['tokenFile'] = o.tokenFile;
  }
  if (o.actions === true) c['actions'] = true;
  return validateConfig(c, o.config ?? 'command line', DashboardConfig, checkDashboardConfig);
}

async function run(o: RunOptions & Flags): Promise<void> {
  let config: DashboardConfig;
  try {
    config = await configFrom(o);
  } catch (err) {
    die((err as Error).message);
  }
  const { runDashboardWith } = await import('../../subscribers/dashboard/run.js');
  await runDashboardWith(config, o.config ?? 'command line', { socket: o.socket, logLevel: o.logLevel });
}

/** The entry of `udsbus run dashboard`. */
export const dashboardComponent: Component = {
  description: 'dashboard: a live web view of cameras, events, clips, topics and clients',
  options,
  run: (o) => run(o as RunOptions & Flags),
};

export function registerDashboard(program: Command): void {
  const cmd = program
    .command('dashboard')
    .description('serve a live web view of cameras, events, clips, topics and clients (same as "udsbus run dashboard")')
    .addOption(socketOption())
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (env UDSBUS_LOG_LEVEL; default info)');
  options(cmd).action(async (o: Flags & { socket: string; logLevel?: string }, c: Command) => {
    const fromUser = c.getOptionValueSource('socket') !== 'default' || process.env['UDSBUS_SOCKET'] !== undefined;
    await run({ ...o, socket: fromUser ? o.socket : undefined, defaultSocket: o.socket, logLevel: o.logLevel });
  });
}
