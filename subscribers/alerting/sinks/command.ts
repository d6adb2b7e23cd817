/**
 * Command sink: run a program per alert, WITHOUT a shell. Alert fields fill `{placeholders}`
 * inside single arguments (a camera named `$(rm -rf /)` is passed as that literal text, one
 * argv element) and, by default, the alert is also written to stdin as JSON, which is the
 * safest way to hand a program structured data.
 */
import { spawnSupervised, describeExit } from '../../common/child.js';
import { toJsonSafe } from '../../common/json-safe.js';
import { getPath, renderArgv, toText } from '../../common/template.js';
import type { CommandSink } from '../config.js';
import type { AlertSink, Delivery, DeliveryResult } from './types.js';

/** At most this many processes per command sink at once; more alerts wait their turn. */
const MAX_RUNNING = 4;

export function commandSink(name: string, cfg: CommandSink): AlertSink {
  const timeoutMs = cfg.timeoutMs ?? 10_000;
  let running = 0;
  const waiting: Array<() => void> = [];
  const slot = async () => {
    if (running >= MAX_RUNNING) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
  };
  const release = () => {
    running--;
    waiting.shift()?.();
  };
  return {
    name,
    async deliver(d: Delivery): Promise<DeliveryResult> {
      await slot();
      try {
        return await run(d);
      } finally {
        release();
      }
    },
  };

  async function run(d: Delivery): Promise<DeliveryResult> {
    const json = JSON.stringify(toJsonSafe(d.alert));
    const a = d.alert;
    const fields: Record<string, string | undefined> = {
      ruleId: a.ruleId,
      cameraId: a.cameraId,
      topic: a.topic,
      severity: a.severity,
      message: a.message,
      time: a.time,
      count: a.count === undefined ? undefined : String(a.count),
      suppressed: a.suppressed === undefined ? undefined : String(a.suppressed),
      json,
    };
    const argv = renderArgv(cfg.command, (n) => (n.startsWith('payload.') ? toText(getPath(d.payload, n.slice(8))) : fields[n]));
    const proc = spawnSupervised(argv, { ...(cfg.stdin === 'none' ? {} : { stdin: `${json}\n` }), killTimeoutMs: 2_000 });
    const timer = setTimeout(() => void proc.stop(), timeoutMs);
    const info = await proc.exited;
    clearTimeout(timer);
    if (info.error === undefined && !info.stopped && info.code === 0) return { ok: true, attempts: 1 };
    const why = info.stopped && info.error === undefined ? `${argv[0]} did not finish within ${timeoutMs} ms and was stopped` : describeExit(argv[0]!, info);
    return { ok: false, attempts: 1, error: why };
  }
}
