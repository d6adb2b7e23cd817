/**
 * Injected faults: which are active, which request they hit, and how often they have.
 */
import type { FaultKind, FaultOptions, FaultScope } from './types.js';

type Active = { [K in FaultKind]: { opts: FaultOptions[K]; remaining: number | undefined } };

export class FaultInjector {
  private readonly active: Partial<Active> = {};
  readonly hits: Partial<Record<FaultKind, number>> = {};

  set<K extends FaultKind>(kind: K, opts: FaultOptions[K]): void {
    const times = 'times' in opts ? (opts as FaultScope).times : undefined;
    (this.active as Record<K, Active[K]>)[kind] = { opts, remaining: times } as Active[K];
  }

  clear(kind?: FaultKind): void {
    if (kind) delete this.active[kind];
    else for (const k of Object.keys(this.active) as FaultKind[]) delete this.active[k];
  }

  isActive(kind: FaultKind): boolean {
    return this.active[kind] !== undefined;
  }

  /**
   * The fault's options when it applies to `action`, counting one hit (and one of its `times`).
   * `action` is a SOAP operation's local name, or `GET <path>` for plain HTTP.
   */
  take<K extends Exclude<FaultKind, 'down'>>(kind: K, action: string): FaultOptions[K] | undefined {
    const entry = this.active[kind] as Active[K] | undefined;
    if (!entry) return undefined;
    const scope = (entry.opts as FaultScope).action;
    if (scope !== undefined && !(typeof scope === 'string' ? [scope] : scope).includes(action)) return undefined;
    this.hits[kind] = (this.hits[kind] ?? 0) + 1;
    if (entry.remaining !== undefined) {
      entry.remaining -= 1;
      if (entry.remaining <= 0) delete this.active[kind];
    }
    return entry.opts;
  }
}
