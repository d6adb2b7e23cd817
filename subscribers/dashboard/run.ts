/** `udsbus dashboard` / `udsbus run dashboard`: the dashboard as a process. Prints its URL on stdout. */
import { readFileSync } from 'node:fs';
import { fromFile, runService, type RunOptions, type ServiceDefinition } from '../common/run.js';
import { checkDashboardConfig, DashboardConfig, loadDashboardConfig } from './config.js';
import { startDashboard } from './index.js';

function readToken(c: DashboardConfig): string | undefined {
  if (c.tokenFile === undefined) return c.token;
  const t = readFileSync(c.tokenFile, 'utf8').split('\n')[0]!.trim();
  if (t.length < 16) throw new Error(`${c.tokenFile}: the token must be at least 16 characters`);
  return t;
}

/** SIGHUP applies logLevel only: the listener and the page's state belong to the running server. */
export function dashboardService(
  load: (file: string, env: NodeJS.ProcessEnv) => DashboardConfig = fromFile(loadDashboardConfig, DashboardConfig, checkDashboardConfig),
): ServiceDefinition<DashboardConfig> {
  return {
    name: 'dashboard',
    load,
    start: async (c, { client, logger }) => {
      const dash = await startDashboard({
        client,
        logger,
        listen: c.listen,
        token: readToken(c),
        recordingsDir: c.recordings?.dir,
        indexFile: c.recordings?.indexFile,
        auditDir: c.auditDir,
        snapshotsDir: c.snapshotsDir,
        actions: c.actions,
        pollMs: c.pollMs,
        eventsKept: c.eventsKept,
      });
      // stdout, not the log: the URL carries the token, and logs travel further than a terminal.
      process.stdout.write(`dashboard: ${dash.url}\n`);
      return dash;
    },
  };
}

export function runDashboard(configFile: string, opts: RunOptions = {}): Promise<void> {
  return runService(dashboardService(), configFile, opts);
}

/** Run with a config built by `load` (file, environment, then command-line flags; called again on SIGHUP). */
export function runDashboardWith(load: (label: string, env: NodeJS.ProcessEnv) => DashboardConfig, label: string, opts: RunOptions = {}): Promise<void> {
  return runService(dashboardService(load), label, opts);
}
