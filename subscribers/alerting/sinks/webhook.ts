/**
 * Webhook sink: POST the alert as JSON. Each attempt has a timeout; network errors, timeouts,
 * 429 and 5xx are retried with exponential backoff (backoffMs, 2×, 4× … capped at
 * maxBackoffMs, ±20 % jitter so many subscribers do not retry in step); other 4xx are not,
 * because sending the same request again will not fix it.
 */
import type { Clock } from '../../common/clock.js';
import { toJsonSafe } from '../../common/json-safe.js';
import type { Logger } from '../../common/logger.js';
import type { WebhookSink } from '../config.js';
import type { AlertSink, Delivery, DeliveryResult } from './types.js';

export function webhookSink(
  name: string,
  cfg: WebhookSink,
  ctx: { clock: Clock; logger: Logger; random?: () => number; signal?: AbortSignal },
): AlertSink {
  const timeoutMs = cfg.timeoutMs ?? 5_000;
  const retries = cfg.retries ?? 3;
  const backoffMs = cfg.backoffMs ?? 500;
  const maxBackoffMs = cfg.maxBackoffMs ?? 30_000;
  const random = ctx.random ?? Math.random;
  const stopped = ctx.signal ?? new AbortController().signal;
  // A backoff wait that ends early when the subscriber stops.
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = ctx.clock.setTimeout(done, ms);
      stopped.addEventListener('abort', done, { once: true });
      function done() {
        ctx.clock.clearTimeout(t);
        stopped.removeEventListener('abort', done);
        resolve();
      }
    });

  const attempt = async (body: string): Promise<{ ok: true } | { ok: false; retry: boolean; error: string }> => {
    try {
      const res = await fetch(cfg.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'udsbus-alerting', ...cfg.headers },
        body,
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), stopped]),
      });
      await res.arrayBuffer().catch(() => undefined); // drain so the connection can be reused
      if (res.ok) return { ok: true };
      return { ok: false, retry: res.status >= 500 || res.status === 429, error: `HTTP ${res.status} ${res.statusText}` };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (stopped.aborted) return { ok: false, retry: false, error: 'the subscriber stopped before the webhook answered' };
      const why = e.name === 'TimeoutError' ? `no response within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
      return { ok: false, retry: true, error: why };
    }
  };

  return {
    name,
    async deliver(d: Delivery): Promise<DeliveryResult> {
      const body = JSON.stringify(toJsonSafe(d.alert));
      let last = '';
      let tried = 0;
      for (let n = 0; n <= retries; n++) {
        if (n > 0) {
          const delay = Math.min(maxBackoffMs, backoffMs * 2 ** (n - 1)) * (0.8 + 0.4 * random());
          ctx.logger.warn({ sink: name, url: cfg.url, ruleId: d.alert.ruleId, attempt: n, error: last, retryInMs: Math.round(delay) }, 'webhook delivery failed; retrying');
          await sleep(delay);
          if (stopped.aborted) return { ok: false, attempts: tried, error: `the subscriber stopped while retrying (last error: ${last})` };
        }
        const r = await attempt(body);
        tried++;
        if (r.ok) return { ok: true, attempts: tried };
        last = r.error;
        if (!r.retry) break;
      }
      return { ok: false, attempts: tried, error: last };
    },
  };
}
