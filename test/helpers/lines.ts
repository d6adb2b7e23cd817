/** Every line a child process writes, kept, so a test can wait for one that came before it asked. */
import type { Readable } from 'node:stream';

export class Lines {
  readonly all: string[] = [];
  private waiters: Array<{ pred: (l: string) => boolean; resolve: (l: string) => void }> = [];
  private partial = '';

  constructor(stream: Readable | null) {
    stream?.setEncoding('utf8');
    stream?.on('data', (d: string) => {
      const parts = (this.partial + d).split('\n');
      this.partial = parts.pop()!;
      for (const line of parts) this.push(line);
    });
  }

  private push(line: string): void {
    this.all.push(line);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(line)) return true;
      w.resolve(line);
      return false;
    });
  }

  /** The first line (seen before or after the call) matching `pred`; rejects after `ms`. */
  waitFor(pred: (l: string) => boolean, ms = 10_000, what = 'a matching line'): Promise<string> {
    const seen = this.all.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (l: string) => {
          clearTimeout(t);
          resolve(l);
        },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no ${what} within ${ms} ms; saw:\n${this.all.slice(-20).join('\n')}`));
      }, ms);
      this.waiters.push(w);
    });
  }

  /** Lines after index `from` matching `pred`, waiting until there are `n`. */
  async waitForCount(pred: (l: string) => boolean, n: number, ms = 10_000): Promise<string[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hits = this.all.filter(pred);
      if (hits.length >= n) return hits;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`wanted ${n} matching lines, saw ${hits.length}:\n${this.all.slice(-20).join('\n')}`);
      // Wait for the next matching line (an event, not a sleep), then count again.
      await this.waitForNext(pred, left);
    }
  }

  private waitForNext(pred: (l: string) => boolean, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no further matching line within ${ms} ms; saw:\n${this.all.slice(-20).join('\n')}`));
      }, ms);
      this.waiters.push(w);
    });
  }
}
