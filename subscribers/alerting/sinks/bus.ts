/** Bus sink: publish the alert on alert.<ruleId>, validated against the alert schema first. */
import type { Client } from 'udsbus';
import { topics } from '../../../schemas/topics.js';
import { validatorFor } from '../../../schemas/validate.js';
import type { AlertSink, Delivery, DeliveryResult } from './types.js';

export function busSink(client: Client): AlertSink {
  return {
    name: 'bus',
    async deliver(d: Delivery): Promise<DeliveryResult> {
      const topic = topics.alert(d.alert.ruleId);
      const check = validatorFor(topic)?.(d.alert);
      if (check !== undefined && !check.ok) return { ok: false, attempts: 0, error: `invalid alert payload: ${check.errors.join('; ')}` };
      try {
        client.publish(topic, d.alert, d.summary ? { hdr: { summary: 'true' } } : {});
        return { ok: true, attempts: 1 };
      } catch (err) {
        return { ok: false, attempts: 1, error: (err as Error).message };
      }
    },
  };
}
