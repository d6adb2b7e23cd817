/**
 * `udsbus dashboard`: the live web view (subscribers/dashboard). Settings from `--config FILE`
 * (see examples/dashboard.config.json), or from flags for a quick look; flags win over the file.
 */
import { Option, type Command } from 'commander';
import type { DashboardConfig } from '../../subscribers/dashboard/config.js';
import { die, socketOption, brokerTrustOption } from '../common.js';
import { Exit } from '../exit-codes.js';
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
      '\nPrints "dashboard: URL" on stdout; open it in a browser (docs/dashboard.md).\nEvery top-level key of the config file can also be set by UDSBUS_<KEY> (strings as they are, other values as JSON); flags > environment > file.\n\nExamples:\n  udsbus dashboard\n  udsbus dashboard --listen 127.0.0.1:8650 --index /var/lib/udsbus/recording/sessions.jsonl --recordings /var/lib/udsbus/recording\n  udsbus dashboard --unix /run/udsbus/dashboard.sock --audit /var/lib/udsbus/audit\n  udsbus dashboard --snapshots /var/spool/udsbus/snapshots\n  udsbus run dashboard --config /etc/udsbus/dashboard.json\n\nExit codes:\n  0  stopped by SIGINT/SIGTERM\n  1  a failure\n  2  cannot connect to the broker\n  7  invalid config',
    );
}

// The dashboard's modules (HTTP, schemas, config) load only when it runs: cli/main.ts registers
// this command in every process, the broker's too. The loader it returns reads the file, lays
// UDSBUS_* variables over it, then the flags (flag > environment > file); SIGHUP calls it again.
async function configLoader(o: Flags): Promise<(label: string, env: NodeJS.ProcessEnv) => DashboardConfig> {
  const { checkDashboardConfig, DashboardConfig, loadDashboardConfig } = await import('../../subscribers/dashboard/config.js');
  const { validateConfig } = await import('../../subscribers/common/config.js');
  const { withEnv } = await import('../../subscribers/common/env.js');
  return (label, env) => {
    const base = withEnv(o.config === undefined ? {} : loadDashboardConfig(o.config), DashboardConfig, checkDashboardConfig, label, env);
    return withFlags(o, base, (c) => validateConfig(c, label, DashboardConfig, checkDashboardConfig));
  };
}

function withFlags(o: Flags, base: DashboardConfig, validate: (c: unknown) => DashboardConfig): DashboardConfig {
  const c: Record<string, unknown> = { ...base };
  if (o.listen !== undefined) {
    const m = /^(.*):(\d+)$/.exec(o.listen);
    if (m === null) throw new Error(`--listen wants host:port, got "${o.listen}"`);
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
  return validate(c);
}

async function run(o: RunOptions & Flags): Promise<void> {
  const label = o.config ?? 'command line';
  const load = await configLoader(o);
  try {
    load(label, process.env); // refuse a bad file, variable or flag here, with the CLI's message
  } catch (err) {
    die((err as Error).message, Exit.CONFIG);
  }
  const { runDashboardWith } = await import('../../subscribers/dashboard/run.js');
  await runDashboardWith(load, label, { socket: o.socket, logLevel: o.logLevel });
}

/** The entry of `udsbus run dashboard`. */
export const dashboardComponent: Component = {
  description: 'dashboard: a live web view of cameras, events, clips, topics and clients',
  options,
  flagKeys: { listen: 'listen', unix: 'listen.path', recordings: 'recordings.dir', index: 'recordings.indexFile', audit: 'auditDir', tokenFile: 'tokenFile', actions: 'actions', snapshots: 'snapshotsDir' },
  configKeys: async () => Object.keys((await import('../../subscribers/dashboard/config.js')).DashboardConfig.properties),
  run: (o) => run(o as RunOptions & Flags),
};

export function registerDashboard(program: Command): void {
  const cmd = program
    .command('dashboard')
    .description('serve a live web view of cameras, events, clips, topics and clients (same as "udsbus run dashboard")')
    .addOption(socketOption())
    .addOption(brokerTrustOption())
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (env UDSBUS_LOG_LEVEL; default info)');
  options(cmd).action(async (o: Flags & { socket: string; logLevel?: string }, c: Command) => {
    const fromUser = c.getOptionValueSource('socket') !== 'default' || process.env['UDSBUS_SOCKET'] !== undefined;
    await run({ ...o, socket: fromUser ? o.socket : undefined, defaultSocket: o.socket, logLevel: o.logLevel });
  });
}
