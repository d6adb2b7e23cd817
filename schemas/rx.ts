/**
 * Validated, typed subscriptions: pipe a client Observable through `validated()` to get only
 * payloads that match the topic's schema, typed; invalid ones go to `onInvalid` (default: a
 * warning on stderr) instead of reaching the consumer.
 *
 * @example
 * bus.subscribe('camera.event.*.motion').pipe(validated<CameraEventMotion>()).subscribe((m) => m.payload.active)
 */
import { filter, type OperatorFunction } from 'rxjs';
import { validatorFor } from './validate.js';

type Msg = { readonly topic: string; readonly payload: unknown };

export function validated<P, M extends Msg = Msg>(
  onInvalid: (msg: M, errors: readonly string[]) => void = (msg, errors) => process.emitWarning(`invalid payload on ${msg.topic}: ${errors.join('; ')}`),
): OperatorFunction<M, M & { readonly payload: P }> {
  return filter((msg: M): msg is M & { readonly payload: P } => {
    if (msg.payload === undefined) return false; // a cleared retained message carries no value
    const v = validatorFor(msg.topic);
    if (v === undefined) return true;
    const r = v(msg.payload);
    if (r.ok) return true;
    onInvalid(msg, r.errors);
    return false;
  });
}
