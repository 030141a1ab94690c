import type { Knex } from 'knex';

/**
 * Group commit: writes queued while a transaction is committing are run
 * together in the next transaction, so N concurrent phase reports cost one
 * fsync instead of N. Each caller's promise settles only after the commit
 * that holds its write, so an acknowledged write is durable.
 *
 * A write that throws would abort the shared transaction; the batch is then
 * retried one write per transaction, so one bad write fails alone.
 */
type Write<T> = (trx: Knex.Transaction) => Promise<T>;

interface Pending {
  write: Write<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class WriteBatcher {
  private queue: Pending[] = [];
  private running: Promise<void> | null = null;

  constructor(
    private readonly knex: Knex,
    private readonly maxBatch = 200,
  ) {}

  run<T>(write: Write<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ write, resolve: resolve as (v: unknown) => void, reject });
      this.running ??= this.drain();
    });
  }

  /** Resolves when everything queued so far is committed (for shutdown). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        await this.commitBatch(batch);
      }
    } finally {
      this.running = null;
    }
  }

  private async commitBatch(batch: Pending[]): Promise<void> {
    let results: unknown[];
    try {
      results = await this.knex.transaction(async (trx) => {
        const out: unknown[] = [];
        for (const item of batch) out.push(await item.write(trx));
        return out;
      });
    } catch {
      if (batch.length === 1) return this.commitAlone(batch[0]!);
      for (const item of batch) await this.commitAlone(item);
      return;
    }
    batch.forEach((item, i) => item.resolve(results[i]));
  }

  private async commitAlone(item: Pending): Promise<void> {
    try {
      item.resolve(await this.knex.transaction((trx) => item.write(trx)));
    } catch (err) {
      item.reject(err);
    }
  }
}
