/**
 * Group commit: requests queued while a batch is being written go together
 * into the next batch, so N concurrent phase reports cost one transaction and
 * one fsync instead of N. Each caller's promise settles only after the
 * commit that holds its write, so an acknowledged write is durable.
 *
 * `windowMs` lets the first write of a batch wait that long for others.
 * Without it a batch holds what arrived in one event-loop turn, which is
 * enough when clients keep their connections; installers that open a
 * connection per call (curl) arrive a few per turn, and every report then
 * paid a commit of its own (measured: batches of 1, 862 reports/s; with 5 ms,
 * 1,847/s; scripts/bench/phase-bench.ts --connection-per-report).
 */
export class WriteBatcher<In, Out> {
  private queue: { input: In; resolve: (value: Out) => void; reject: (error: unknown) => void }[] = [];
  private running: Promise<void> | null = null;

  private readonly windowMs: number;
  private readonly maxBatch: number;
  private readonly isolate: (err: unknown) => boolean;

  /**
   * `isolate`: errors that belong to one write (the database refused a value),
   * after which the batch is written again one write at a time, so only the
   * write that caused it fails. Only for errors raised before COMMIT: the
   * rolled-back batch wrote nothing, so writing it again cannot write twice.
   */
  constructor(
    private readonly writeBatch: (inputs: In[]) => Promise<Out[]>,
    options: { windowMs?: number; maxBatch?: number; isolate?: (err: unknown) => boolean } = {},
  ) {
    this.windowMs = options.windowMs ?? 0;
    this.maxBatch = options.maxBatch ?? 500;
    this.isolate = options.isolate ?? (() => false);
  }

  run(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      // Start after the current I/O phase (setImmediate), not in a microtask:
      // requests parsed in the same event-loop turn then share one commit.
      this.running ??= new Promise<void>((start) =>
        this.windowMs > 0 ? setTimeout(start, this.windowMs) : setImmediate(start),
      ).then(() => this.drain());
    });
  }

  /** Resolves when everything queued so far is committed (for shutdown). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  /** In order, each in its own transaction: one bad write fails alone. */
  private async oneByOne(
    batch: { input: In; resolve: (value: Out) => void; reject: (error: unknown) => void }[],
  ): Promise<void> {
    for (const item of batch) {
      try {
        item.resolve((await this.writeBatch([item.input]))[0]!);
      } catch (err) {
        item.reject(err);
      }
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const outputs = await this.writeBatch(batch.map((item) => item.input));
          batch.forEach((item, i) => item.resolve(outputs[i]!));
        } catch (err) {
          // The transaction rolled back: nothing of this batch was written.
          if (batch.length > 1 && this.isolate(err)) await this.oneByOne(batch);
          else for (const item of batch) item.reject(err);
        }
      }
    } finally {
      this.running = null;
    }
  }
}
