/** Rule conditions: `{path, equals | in | exists | gt | lt}` on dot paths of the payload. */
import { isDeepStrictEqual } from 'node:util';
import { getPath } from '../common/template.js';
import type { Condition } from './config.js';

/** True when every operator of the condition holds for the value at its path. */
export function holds(c: Condition, payload: unknown): boolean {
  const v = getPath(payload, c.path);
  if (c.exists !== undefined && (v !== undefined && v !== null) !== c.exists) return false;
  if ('equals' in c && !isDeepStrictEqual(v, c.equals)) return false;
  if (c.in !== undefined) {
    const values = Array.isArray(v) ? v : [v];
    if (!values.some((x) => c.in!.some((y) => isDeepStrictEqual(x, y)))) return false;
  }
  if (c.gt !== undefined && !(typeof v === 'number' && v > c.gt)) return false;
  if (c.lt !== undefined && !(typeof v === 'number' && v < c.lt)) return false;
  return true;
}

export function allHold(conditions: readonly Condition[] | undefined, payload: unknown): boolean {
  return conditions === undefined || conditions.every((c) => holds(c, payload));
}
