/**
 * Strict mode: payloads published on chosen topics are decoded and checked against their schema
 * before anyone receives them, so one bad publisher cannot poison the consumers (SCHEMA_INVALID).
 */
import { decodeValue } from '../protocol/codec.js';
import { Sublist } from '../topics/sublist.js';

export type Validate = (topic: string, payload: unknown) => readonly string[] | undefined;

export class StrictMode {
  private readonly patterns = new Sublist<{ pattern: string; queue: undefined }>();

  constructor(
    patterns: readonly string[],
    private readonly validate: Validate,
    private readonly maxNesting: number,
  ) {
    for (const pattern of patterns) this.patterns.insert({ pattern, queue: undefined });
  }

  /** Why `payload` may not be published on `topic`, or undefined when it may. */
  check(topic: string, payload: Uint8Array): string | undefined {
    if (this.patterns.match(topic).plain.length === 0) return undefined;
    let value: unknown;
    try {
      value = decodeValue(payload, this.maxNesting);
    } catch (err) {
      return `payload for "${topic}" is not portable CBOR: ${(err as Error).message}`;
    }
    const errors = this.validate(topic, value);
    if (errors === undefined || errors.length === 0) return undefined;
    return `payload for "${topic}" breaks its schema: ${errors.slice(0, 5).join('; ')}`;
  }
}
