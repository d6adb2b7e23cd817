/** What every alert sink implements. */
import type { Alert } from '../../../schemas/payloads.js';

export type Delivery = {
  alert: Alert;
  /** A storm summary rather than a single alert. */
  summary: boolean;
  /** The payload that triggered the alert (undefined for summaries). */
  payload: unknown;
};

export interface AlertSink {
  readonly name: string;
  /** Deliver one alert; resolves when done or given up (never rejects: failures are logged). */
  deliver(d: Delivery): Promise<DeliveryResult>;
}

export type DeliveryResult = { ok: boolean; attempts: number; error?: string };
