import { expect } from 'chai';
import { WriteBatcher } from '../../server/store/write-batcher.js';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** Writes `count` inputs one event-loop turn apart, as connections opened per call arrive; returns the batch sizes. */
async function batchSizes(windowMs: number, count: number): Promise<number[]> {
  const sizes: number[] = [];
  const batcher = new WriteBatcher<number, number>(
    async (inputs) => (sizes.push(inputs.length), inputs.map((i) => i * 2)),
    { windowMs },
  );
  const results: Promise<number>[] = [];
  for (let i = 0; i < count; i++) {
    results.push(batcher.run(i));
    await nextTurn();
  }
  expect(await Promise.all(results)).to.deep.equal(Array.from({ length: count }, (_, i) => i * 2));
  await batcher.flush();
  return sizes;
}

describe('WriteBatcher (group commit)', () => {
  it('without a window, puts writes of one event-loop turn together and no more', async () => {
    const sizes: number[] = [];
    const batcher = new WriteBatcher<number, number>(async (inputs) => (sizes.push(inputs.length), inputs));
    await Promise.all([batcher.run(1), batcher.run(2), batcher.run(3)]);
    expect(sizes).to.deep.equal([3]);
    expect(await batchSizes(0, 4)).to.deep.equal([1, 1, 1, 1]);
  });

  it('with a window, lets writes of the next turns join the first one', async () => {
    const sizes = await batchSizes(50, 4);
    expect(sizes).to.deep.equal([4]);
  });

  it('rejects every write of a batch whose transaction failed, and goes on with the next', async () => {
    let calls = 0;
    const batcher = new WriteBatcher<number, number>(async (inputs) => {
      if (++calls === 1) throw new Error('disk full');
      return inputs;
    });
    const failed = await Promise.allSettled([batcher.run(1), batcher.run(2)]);
    expect(failed.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    expect(await batcher.run(3)).to.equal(3);
  });

  it('with isolate, writes a batch refused for one value again one write at a time: only that write fails', async () => {
    const batches: number[][] = [];
    const refused = Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });
    const batcher = new WriteBatcher<number, number>(
      async (inputs) => {
        batches.push(inputs);
        if (inputs.includes(2)) throw refused;
        return inputs;
      },
      { isolate: (err) => err === refused },
    );
    const outcomes = await Promise.allSettled([batcher.run(1), batcher.run(2), batcher.run(3)]);
    expect(outcomes.map((o) => o.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect(batches).to.deep.equal([[1, 2, 3], [1], [2], [3]]);
    // Any other failure (a lost connection, a failed commit: written or not is unknown) still fails the whole batch, never written twice.
    const other = new WriteBatcher<number, number>(async () => Promise.reject(new Error('connection lost')), {
      isolate: (err) => err === refused,
    });
    expect((await Promise.allSettled([other.run(1), other.run(2)])).map((o) => o.status)).to.deep.equal([
      'rejected',
      'rejected',
    ]);
  });
});
