/**
 * What every component process does for systemd and for `systemctl reload`, in one place (the
 * broker does the same in ops/broker-service.ts, with the same notifier): READY=1 once it is
 * connected and started, STATUS= when the connection changes, WATCHDOG=1 while the event loop
 * turns (when WATCHDOG_USEC is set), RELOADING=1 … READY=1 around a SIGHUP reload, STOPPING=1 on
 * shutdown. Outside systemd (no NOTIFY_SOCKET) the notifications are no-ops; SIGHUP still reloads.
 */
import { notifier, type Notifier } from '../../ops/systemd.js';
import type { Logger } from './logger.js';

/** What a reload did: keys applied in place and keys that changed but need a restart; or why nothing was. */
export type ReloadOutcome = { applied: string[]; needsRestart: string[] } | { failed: string };

export type Lifecycle = {
  readonly sd: Notifier;
  /** READY=1 with a status line; starts the watchdog pings if systemd asked for them. */
  ready(status: string): void;
  status(text: string): void;
  /** Handle SIGHUP with `reload`: RELOADING=1, reload, one log line with the outcome, READY=1. Reloads never overlap. */
  onReload(reload: () => Promise<ReloadOutcome>): void;
  /** STOPPING=1; stops the watchdog. */
  stopping(why: string): void;
};

export function lifecycle(log: Logger, env: NodeJS.ProcessEnv = process.env): Lifecycle {
  const sd = notifier(env, (err) => log.warn({ evt: 'sd_notify', err: err.message }, `cannot notify systemd: ${err.message}`));
  let lastStatus = '';
  return {
    sd,
    ready(status) {
      lastStatus = status;
      sd.ready(status);
      const periodMs = sd.startWatchdog();
      if (periodMs !== undefined) log.debug({ evt: 'watchdog', periodMs }, `pinging the systemd watchdog every ${Math.floor(periodMs / 2)} ms`);
    },
    status(text) {
      lastStatus = text;
      sd.status(text);
    },
    onReload(reload) {
      let running: Promise<void> | undefined;
      let again = false;
      const once = async (): Promise<void> => {
        sd.reloading();
        let outcome: ReloadOutcome;
        try {
          outcome = await reload();
        } catch (err) {
          outcome = { failed: (err as Error).message };
        }
        if ('failed' in outcome) {
          log.error({ evt: 'reload.failed', err: outcome.failed }, 'SIGHUP: the config is invalid; kept the running config');
        } else {
          const { applied, needsRestart } = outcome;
          log.info(
            { evt: 'reload', applied, needsRestart },
            `SIGHUP: applied ${applied.length === 0 ? 'nothing' : applied.join(', ')}${needsRestart.length > 0 ? `; ${needsRestart.join(', ')} changed and need a restart` : ''}`,
          );
        }
        sd.ready(lastStatus);
      };
      process.on('SIGHUP', () => {
        if (running !== undefined) {
          again = true; // a reload is under way: read the file once more when it is done
          return;
        }
        running = (async () => {
          do {
            again = false;
            await once();
          } while (again);
          running = undefined;
        })();
      });
    },
    stopping(why) {
      sd.stopWatchdog();
      sd.stopping(why);
    },
  };
}

/** Top-level keys whose values differ between two configs. */
export function changedKeys(a: object, b: object): string[] {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  return [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k])).sort();
}
