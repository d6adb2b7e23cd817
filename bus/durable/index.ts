/**
 * Durable storage for durable subscriptions: one append-only, checksummed segment log per queue.
 * Standalone: nothing here knows about the broker. See docs/durable-storage.md.
 */
export { DurableLog } from './log.js';
export type {
  AppendResult,
  DurableLogOptions,
  DurableLogStats,
  FsyncPolicy,
  Losses,
  OverflowPolicy,
  RecoveryCut,
  RecoveryReport,
  StoredRecord,
} from './log.js';
