import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  absoluteBlock,
  initialState,
  step,
  type TransferAction,
  type TransferEvent,
  type TransferState,
} from '../../server/tftp/session.js';
import {
  fileSource,
  memorySource,
  netasciiFileSource,
  newPacketCache,
  toNetascii,
  type BlockSource,
} from '../../server/tftp/source.js';

/** Feeds events in order; returns the final state and the actions of each step. */
function play(state: TransferState, events: TransferEvent[]): { state: TransferState; actions: TransferAction[][] } {
  const actions: TransferAction[][] = [];
  for (const event of events) {
    const result = step(state, event);
    state = result.state;
    actions.push(result.actions);
  }
  return { state, actions };
}

const ack = (block: number): TransferEvent => ({ type: 'ack', block });
const data = (from: number, to: number, retransmit = false): TransferAction => ({
  type: 'send-data',
  from,
  to,
  retransmit,
});

describe('tftp transfer state machine', () => {
  it('lock-step without options: DATA 1 at once, then one block per ACK, done on the last ACK', () => {
    // 1024 bytes at 512: blocks 1, 2 and an empty block 3 that marks the end.
    const start = initialState({ size: 1024, blksize: 512, windowsize: 1, maxRetries: 3, withOack: false });
    const { state, actions } = play(start, [{ type: 'start' }, ack(1), ack(2), ack(3)]);
    expect(actions).to.deep.equal([
      [data(1, 1)],
      [data(2, 2)],
      [data(3, 3)],
      [{ type: 'finish', outcome: 'completed' }],
    ]);
    expect(state.finished).to.equal(true);
  });

  it('with options: OACK first, ACK 0 starts the data', () => {
    const start = initialState({ size: 100, blksize: 512, windowsize: 1, maxRetries: 3, withOack: true });
    const { actions } = play(start, [{ type: 'start' }, ack(0), ack(1)]);
    expect(actions).to.deep.equal([[{ type: 'send-oack' }], [data(1, 1)], [{ type: 'finish', outcome: 'completed' }]]);
  });

  it('windowed: sends windowsize blocks, the next window on the ACK of the last one, a short window at the end', () => {
    const start = initialState({ size: 10 * 512 + 1, blksize: 512, windowsize: 4, maxRetries: 3, withOack: true });
    const { actions } = play(start, [{ type: 'start' }, ack(0), ack(4), ack(8), ack(11)]);
    expect(actions).to.deep.equal([
      [{ type: 'send-oack' }],
      [data(1, 4)],
      [data(5, 8)],
      [data(9, 11)],
      [{ type: 'finish', outcome: 'completed' }],
    ]);
  });

  it('windowed: an ACK short of the window restarts right after it (RFC 7440)', () => {
    const start = initialState({ size: 100 * 512, blksize: 512, windowsize: 8, maxRetries: 3, withOack: true });
    const { actions } = play(start, [{ type: 'start' }, ack(0), ack(5)]);
    expect(actions[2]).to.deep.equal([data(6, 13)]);
  });

  it("ignores duplicate and old ACKs (no Sorcerer's Apprentice)", () => {
    const start = initialState({ size: 100 * 512, blksize: 512, windowsize: 1, maxRetries: 3, withOack: false });
    const { state, actions } = play(start, [{ type: 'start' }, ack(1), ack(1), ack(1), ack(0), ack(2)]);
    expect(actions).to.deep.equal([[data(1, 1)], [data(2, 2)], [], [], [], [data(3, 3)]]);
    expect(state.acked).to.equal(2);
  });

  it('ignores an ACK for a block not sent yet', () => {
    const start = initialState({ size: 100 * 512, blksize: 512, windowsize: 1, maxRetries: 3, withOack: false });
    const { actions } = play(start, [{ type: 'start' }, ack(7)]);
    expect(actions[1]).to.deep.equal([]);
  });

  it('retransmits on timeout, resets the count on progress, gives up after maxRetries', () => {
    const start = initialState({ size: 100 * 512, blksize: 512, windowsize: 2, maxRetries: 2, withOack: true });
    const timeout: TransferEvent = { type: 'timeout' };
    const { actions } = play(start, [
      { type: 'start' },
      timeout,
      ack(0),
      timeout,
      timeout,
      ack(2),
      timeout,
      timeout,
      timeout,
    ]);
    expect(actions).to.deep.equal([
      [{ type: 'send-oack' }],
      [{ type: 'send-oack' }],
      [data(1, 2)],
      [data(1, 2, true)],
      [data(1, 2, true)],
      [data(3, 4)],
      [data(3, 4, true)],
      [data(3, 4, true)],
      [{ type: 'finish', outcome: 'timed-out' }],
    ]);
  });

  it('ends on an ERROR from the client and then ignores everything', () => {
    const start = initialState({ size: 100, blksize: 512, windowsize: 1, maxRetries: 2, withOack: true });
    const { actions } = play(start, [{ type: 'start' }, { type: 'peer-error' }, ack(0), { type: 'timeout' }]);
    expect(actions).to.deep.equal([[{ type: 'send-oack' }], [{ type: 'finish', outcome: 'peer-error' }], [], []]);
  });

  it('maps 16-bit ACK numbers past the rollover (65535 -> 0 -> 1)', () => {
    expect(absoluteBlock(65535, 65535)).to.equal(65535);
    expect(absoluteBlock(0, 65536)).to.equal(65536);
    expect(absoluteBlock(65535, 65537)).to.equal(65535);
    expect(absoluteBlock(3, 131075)).to.equal(131075);
    expect(absoluteBlock(0, 0)).to.equal(0);
  });

  it('walks a transfer of 70,000 blocks across the rollover', () => {
    let state = initialState({ size: 70_000 * 8 - 1, blksize: 8, windowsize: 16, maxRetries: 1, withOack: true });
    let result = step(state, { type: 'start' });
    let acked = 0;
    for (let i = 0; i < 10_000 && !result.state.finished; i++) {
      state = result.state;
      result = step(state, ack(acked & 0xffff));
      acked = Math.min(acked + 16, state.lastBlock);
      if (i > 0 && !result.state.finished) {
        const [action] = result.actions;
        expect(action?.type).to.equal('send-data');
      }
    }
    expect(result.actions).to.deep.equal([{ type: 'finish', outcome: 'completed' }]);
  });
});

describe('tftp block sources', () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-tftp-source-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function payloads(packets: Buffer[], firstBlock: number): Buffer {
    packets.forEach((p, i) => {
      expect(p.readUInt16BE(0)).to.equal(3);
      expect(p.readUInt16BE(2)).to.equal((firstBlock + i) & 0xffff);
    });
    return Buffer.concat(packets.map((p) => p.subarray(4)));
  }

  async function readAll(source: BlockSource, blksize: number, window: number): Promise<Buffer> {
    const last = Math.floor(source.size / blksize) + 1;
    const parts: Buffer[] = [];
    for (let from = 1; from <= last; from += window) {
      const to = Math.min(from + window - 1, last);
      parts.push(payloads(source.ready(from, to, blksize) ?? (await source.load(from, to, blksize)), from));
    }
    return Buffer.concat(parts);
  }

  async function open(file: string) {
    const handle = await fs.promises.open(file);
    return { handle, stat: await handle.stat() };
  }

  for (const [size, blksize] of [
    [0, 512],
    [1, 512],
    [512, 512],
    [1024 * 1024, 512],
    [1024 * 1024 + 7, 1468],
    [300_000, 65464],
  ] as const) {
    it(`a file of ${size} bytes at blksize ${blksize} comes out whole, ending with a short block`, async () => {
      const file = path.join(dir, `f-${size}-${blksize}`);
      const content = Buffer.alloc(size, 0).map((_, i) => (i * 7) & 0xff);
      fs.writeFileSync(file, content);
      const { handle, stat } = await open(file);
      const source = fileSource(handle, stat, newPacketCache(8 << 20));
      expect(await readAll(source, blksize, 8)).to.deep.equal(content);
      await source.close();
    });
  }

  it('two sources on the same file share chunks through the cache', async () => {
    const file = path.join(dir, 'shared');
    fs.writeFileSync(file, Buffer.alloc(600_000, 1));
    const cache = newPacketCache(8 << 20);
    const first = await open(file);
    const a = fileSource(first.handle, first.stat, cache);
    await a.load(1, 8, 1468);
    const second = await open(file);
    const b = fileSource(second.handle, second.stat, cache);
    expect(b.ready(1, 8, 1468), 'served from the chunk the first source read').to.have.length(8);
    expect(b.ready(400, 401, 1468), 'a chunk nobody read yet').to.equal(undefined);
    await Promise.all([a.close(), b.close()]);
  });

  it('the cache stays within its byte budget', async () => {
    const file = path.join(dir, 'big');
    fs.writeFileSync(file, Buffer.alloc(2 << 20, 2));
    const cache = newPacketCache(600 * 1024); // about two 256 KiB chunks
    const { handle, stat } = await open(file);
    const source = fileSource(handle, stat, cache);
    expect(await readAll(source, 512, 16)).to.have.length(2 << 20);
    expect(source.ready(1, 1, 512), 'the first chunk was evicted').to.equal(undefined);
    await source.close();
  });

  it('netascii: LF becomes CR LF and CR becomes CR NUL, also across read boundaries', async () => {
    const text = Buffer.from('line one\nline two\r\nbare cr\r'.repeat(5000), 'latin1');
    const file = path.join(dir, 'text');
    fs.writeFileSync(file, text);
    const expected = toNetascii(text);
    expect(expected.subarray(0, 22).toString('latin1')).to.equal('line one\r\nline two\r\0\r\n');
    const { handle } = await open(file);
    const source = await netasciiFileSource(handle, text.length);
    expect(source.size).to.equal(expected.length);
    expect(await readAll(source, 512, 4)).to.deep.equal(expected);
    await source.close();
  });

  it('an in-memory (rendered) file', async () => {
    const content = Buffer.from('#!ipxe\nchain http://10.0.0.1/boot.ipxe\n');
    expect(await readAll(memorySource(content), 16, 2)).to.deep.equal(content);
  });
});
