/**
 * Serves `camera.rpc.*.<action>` for every action, in one queue group, so several publishers
 * serving the same cameras share the requests (each request reaches one of them).
 *
 * Requests are checked against their schema (`invalid-argument`), the camera must be one this
 * publisher serves (`not-found`), and the result is checked against the reply schema before it
 * leaves (a bug here becomes `internal`, not a malformed reply). Payloads are never logged: a
 * users-create request carries a password.
 */
import type { Subscription } from 'rxjs';
import type { Client, Message } from 'udsbus';
import { CAMERA_RPC_ACTIONS, parseTopic, type CameraRpcAction } from '../../schemas/topics.js';
import { validatorFor } from '../../schemas/validate.js';
import { runAction } from './actions.js';
import { CameraError } from './errors.js';
import { errField, type Logger } from './log.js';
import type { CameraWorker } from './worker.js';

export interface RpcStats {
  requests: number;
  failures: number;
}

export function serveRpc(
  client: Client,
  lookup: (cameraId: string) => CameraWorker | undefined,
  queue: string,
  log: Logger,
  stats: RpcStats,
): Subscription[] {
  return CAMERA_RPC_ACTIONS.map((action) =>
    client.serve(
      `camera.rpc.*.${action}`,
      async (msg: Message) => {
        stats.requests++;
        try {
          return await handle(action, msg, lookup);
        } catch (err) {
          stats.failures++;
          const e = err instanceof CameraError ? err : new CameraError('internal', `publisher bug: ${errField(err).message}`);
          if (e.code === 'internal') log.error({ topic: msg.topic, err: errField(err) }, 'rpc handler failed');
          else log.debug({ topic: msg.topic, code: e.code, message: e.message }, 'rpc failed');
          throw e;
        }
      },
      { queue },
    ),
  );
}

async function handle(action: CameraRpcAction, msg: Message, lookup: (id: string) => CameraWorker | undefined): Promise<unknown> {
  const info = parseTopic(msg.topic);
  if (info?.type !== 'camera.rpc') throw new CameraError('invalid-argument', `not a camera rpc topic: ${msg.topic}`);
  const worker = lookup(info.cameraId);
  if (worker === undefined) throw new CameraError('not-found', `no camera ${info.cameraId} here`);

  // No payload at all is the empty request.
  const req = msg.payload === undefined ? {} : msg.payload;
  const validate = validatorFor(msg.topic);
  const checked = validate?.(req);
  if (checked === undefined || !checked.ok) {
    throw new CameraError('invalid-argument', checked ? checked.errors.join('; ') : `no schema for ${msg.topic}`);
  }
  const result = await runAction(action, worker.activeSession(), checked.value as never);
  const reply = validatorFor(msg.topic, { reply: true })?.({ ok: true, result });
  if (reply !== undefined && !reply.ok) {
    throw new CameraError('internal', `publisher produced an invalid ${action} result: ${reply.errors.join('; ')}`);
  }
  return result;
}
