/**
 * Alerting subscriber: rules from a config watch bus topics and raise alerts to sinks — the bus
 * (alert.<ruleId>, schema-validated), HTTP webhooks (retries with backoff) and commands (no
 * shell). The decisions live in engine.ts; this file wires subscriptions, engines and sinks.
 *
 * @example
 * const bus = await connect({ name: 'alerting' });
 * const alerting = await startAlerting({ client: bus, config: loadAlertingConfig('alerting.json') });
 * // … later
 * await alerting.stop();
 */
import type { Subscription } from 'rxjs';
import type { Client } from 'udsbus';
import { systemClock, type Clock } from '../common/clock.js';
import { validateConfig } from '../common/config.js';
import { createLogger, errFields, type Logger } from '../common/logger.js';
import { AlertingConfig, checkAlertingConfig } from './config.js';
import { RuleEngine, type Emitted, type Outcome } from './engine.js';
import { busSink } from './sinks/bus.js';
import { commandSink } from './sinks/command.js';
import type { AlertSink, DeliveryResult } from './sinks/types.js';
import { webhookSink } from './sinks/webhook.js';

export { AlertingConfig, loadAlertingConfig } from './config.js';
export type { Outcome } from './engine.js';

export type AlertingOptions = {
  /** A connected client; not closed by stop(). */
  client: Client;
  /** Rules and sinks (validated again here, so configs built in code get the same checks). */
  config: AlertingConfig;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  /** Called after each delivery attempt chain (for tests and metrics). */
  onDelivery?: ((r: DeliveryResult & { sink: string; ruleId: string; summary: boolean }) => void) | undefined;
  /** How long stop() lets deliveries in flight (webhook retries) finish before cancelling them (default 5000 ms). */
  stopGraceMs?: number | undefined;
};

export type AlertingStats = {
  /** Per rule: how each matching-topic message ended (sent, deduped, cooldown, storm, …). */
  rules: Record<string, Record<Outcome, number>>;
  /** Per sink: deliveries that succeeded / failed after all retries. */
  sinks: Record<string, { ok: number; failed: number }>;
};

export interface AlertingHandle {
  stats(): AlertingStats;
  /** Unsubscribe, emit pending storm summaries, wait for deliveries in flight. */
  stop(): Promise<void>;
}

export async function startAlerting(opts: AlertingOptions): Promise<AlertingHandle> {
  const config = validateConfig(opts.config, 'alerting config', AlertingConfig, checkAlertingConfig);
  const { client } = opts;
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? createLogger('udsbus-alerting');

  const stopping = new AbortController();
  const sinks = new Map<string, AlertSink>([['bus', busSink(client)]]);
  for (const [name, s] of Object.entries(config.sinks ?? {})) {
    if (s.type === 'webhook') sinks.set(name, webhookSink(name, s, { clock, logger: log, signal: stopping.signal }));
    else if (s.type === 'command') sinks.set(name, commandSink(name, s));
  }
  const stats: AlertingStats = { rules: {}, sinks: {} };
  for (const name of sinks.keys()) stats.sinks[name] = { ok: 0, failed: 0 };
  const inflight = new Set<Promise<void>>();

  const deliver = (ruleSinks: readonly string[], e: Emitted) => {
    for (const name of ruleSinks) {
      const sink = sinks.get(name)!;
      const p = sink
        .deliver(e)
        .catch((err: unknown): DeliveryResult => ({ ok: false, attempts: 0, error: (err as Error).message }))
        .then((r) => {
          const fields = { sink: name, ruleId: e.alert.ruleId, cameraId: e.alert.cameraId, summary: e.summary, attempts: r.attempts };
          if (r.ok) {
            stats.sinks[name]!.ok++;
            log.debug(fields, 'alert delivered');
          } else {
            stats.sinks[name]!.failed++;
            log.error({ ...fields, error: r.error }, `alert delivery to ${name} failed: ${r.error}`);
          }
          opts.onDelivery?.({ ...r, sink: name, ruleId: e.alert.ruleId, summary: e.summary });
        });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
  };

  const engines: RuleEngine[] = [];
  const subs: Subscription[] = [];
  for (const rule of config.rules) {
    if (rule.enabled === false) continue;
    const ruleSinks = rule.sinks ?? ['bus'];
    const counts = { sent: 0, deduped: 0, ended: 0, late: 0, 'no-match': 0, 'outside-window': 0, cooldown: 0, storm: 0 } satisfies Record<Outcome, number>;
    stats.rules[rule.id] = counts;
    const engine = new RuleEngine(rule, {
      clock,
      timezone: config.timezone,
      storm: config.storm,
      emit: (e) => {
        log.info({ ruleId: rule.id, cameraId: e.alert.cameraId, topic: e.alert.topic, summary: e.summary }, e.alert.message);
        deliver(ruleSinks, e);
      },
    });
    engines.push(engine);
    subs.push(
      client.subscribe(rule.topic, { retained: rule.retained === true }).subscribe({
        next: (m) => {
          try {
            counts[engine.handle(m.topic, m.payload)]++;
          } catch (err) {
            log.error({ ...errFields(err), ruleId: rule.id, topic: m.topic }, 'rule evaluation failed');
          }
        },
        error: (err) => log.error({ ...errFields(err), ruleId: rule.id }, 'subscription failed'),
      }),
    );
  }
  client.on('loss', onLoss);
  function onLoss(e: { pattern: string; lost: number }) {
    log.warn({ pattern: e.pattern, lost: e.lost }, 'messages lost by the broker for the alerting subscriber');
  }
  await client.flush();
  log.info({ rules: engines.length, sinks: [...sinks.keys()] }, 'alerting subscriber ready');

  let stopped = false;
  return {
    stats: () => structuredClone(stats),
    async stop() {
      if (stopped) return;
      stopped = true;
      client.off('loss', onLoss);
      for (const s of subs) s.unsubscribe();
      for (const e of engines) e.flush();
      if (inflight.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, opts.stopGraceMs ?? 5_000)));
        await Promise.race([Promise.all([...inflight]), grace]);
        clearTimeout(timer);
        stopping.abort(); // cancels webhook requests and backoff waits still running; they log as failed
        while (inflight.size > 0) await Promise.all([...inflight]);
      }
      await client.flush().catch(() => undefined);
    },
  };
}
