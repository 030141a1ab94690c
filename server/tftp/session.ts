/**
 * One read transfer. The decisions live in `step`, a pure function from state
 * and event to new state and actions; `Session` is the thin edge that owns the
 * socket, the timer and the block source and carries the actions out.
 */
import type { Socket } from 'node:dgram';
import { encodeError, encodePacket, ErrorCode, parsePacket } from './packet.js';
import { lastBlockNumber, type BlockSource } from './source.js';

// ---------------------------------------------------------------- pure core

export interface TransferState {
  /** Absolute number of the final DATA block. */
  readonly lastBlock: number;
  readonly windowsize: number;
  /** Retransmissions allowed in a row without progress before giving up. */
  readonly maxRetries: number;
  /** Highest block the client acknowledged; -1 while an OACK (block 0) is unacknowledged. */
  readonly acked: number;
  /** Highest block sent so far; 0 stands for the OACK or for "nothing yet". */
  readonly sent: number;
  readonly retriesLeft: number;
  readonly finished: boolean;
}

export type TransferEvent =
  | { type: 'start' }
  | { type: 'ack'; block: number } // block number as on the wire (16 bits)
  | { type: 'timeout' }
  | { type: 'peer-error' };

export type TransferOutcome = 'completed' | 'timed-out' | 'peer-error';

export type TransferAction =
  | { type: 'send-oack' }
  | { type: 'send-data'; from: number; to: number; retransmit: boolean }
  | { type: 'finish'; outcome: TransferOutcome };

export interface Step {
  state: TransferState;
  actions: TransferAction[];
}

export function initialState(opts: {
  size: number;
  blksize: number;
  windowsize: number;
  maxRetries: number;
  withOack: boolean;
}): TransferState {
  return {
    lastBlock: lastBlockNumber(opts.size, opts.blksize),
    windowsize: opts.windowsize,
    maxRetries: opts.maxRetries,
    acked: opts.withOack ? -1 : 0,
    sent: 0,
    retriesLeft: opts.maxRetries,
    finished: false,
  };
}

/**
 * A copy of `state` with `changes` applied. Spelled out field by field because
 * it runs once per packet and V8 handles a fixed-shape literal much faster
 * than an object spread with overrides.
 */
function update(
  state: TransferState,
  changes: Partial<Pick<TransferState, 'acked' | 'sent' | 'retriesLeft' | 'finished'>>,
): TransferState {
  return {
    lastBlock: state.lastBlock,
    windowsize: state.windowsize,
    maxRetries: state.maxRetries,
    acked: changes.acked ?? state.acked,
    sent: changes.sent ?? state.sent,
    retriesLeft: changes.retriesLeft ?? state.retriesLeft,
    finished: changes.finished ?? state.finished,
  };
}

/**
 * Block numbers on the wire wrap from 65535 to 0. An ACK can only refer to a
 * block already sent, so it is the most recent sent block with those 16 bits.
 */
export function absoluteBlock(wire: number, sent: number): number {
  return sent - ((sent - wire) & 0xffff);
}

function sendWindow(state: TransferState, retransmit: boolean): Step {
  if (state.acked < 0) return { state, actions: [{ type: 'send-oack' }] };
  const from = state.acked + 1;
  const to = Math.min(state.acked + state.windowsize, state.lastBlock);
  return {
    state: update(state, { sent: Math.max(state.sent, to) }),
    actions: [{ type: 'send-data', from, to, retransmit }],
  };
}

function finish(state: TransferState, outcome: TransferOutcome): Step {
  return { state: update(state, { finished: true }), actions: [{ type: 'finish', outcome }] };
}

function onAck(state: TransferState, wire: number): Step {
  const block = absoluteBlock(wire, state.sent);
  // A duplicate or old ACK changes nothing: answering it would double the
  // traffic for the rest of the transfer (the Sorcerer's Apprentice bug).
  if (block <= state.acked) return { state, actions: [] };
  if (block === state.lastBlock) return finish(update(state, { acked: block }), 'completed');
  // A window ACKed short of its end means the client missed a block: RFC 7440
  // restarts the window right after the last block it has.
  return sendWindow(update(state, { acked: block, retriesLeft: state.maxRetries }), false);
}

function onTimeout(state: TransferState): Step {
  if (state.retriesLeft === 0) return finish(state, 'timed-out');
  return sendWindow(update(state, { retriesLeft: state.retriesLeft - 1 }), true);
}

export function step(state: TransferState, event: TransferEvent): Step {
  if (state.finished) return { state, actions: [] };
  switch (event.type) {
    case 'start':
      return sendWindow(state, false);
    case 'ack':
      return onAck(state, event.block);
    case 'timeout':
      return onTimeout(state);
    case 'peer-error':
      return finish(state, 'peer-error');
  }
}

// ---------------------------------------------------------------- thin edge

/** Looks per retransmission timeout for progress; see Session.onTick. */
const TIMER_TICKS = 4;

export interface SessionResult {
  outcome: TransferOutcome | 'aborted';
  bytes: number;
  blocksRetransmitted: number;
  /** Highest block the client acknowledged: where a stalled transfer stopped. */
  ackedBlock: number;
}

/** The logging a transfer needs: a pino Logger fits, and so does a worker's relay to the main thread. */
export interface TransferLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface SessionOptions {
  socket: Socket; // already connected to the client's address and port (its TID)
  source: BlockSource;
  blksize: number;
  windowsize: number;
  oack: ReadonlyMap<string, string>;
  timeoutMs: number;
  maxRetries: number;
  log: TransferLog;
}

export class Session {
  private state: TransferState;
  private timer: NodeJS.Timeout | undefined;
  /** Sends so far, and as of the timer's last look; see onTick. */
  private sends = 0;
  private sendsSeen = 0;
  private quietTicks = 0;
  /** Bumped by every transmission so that a superseded one (e.g. awaiting a disk read) is dropped. */
  private generation = 0;
  /** Transmissions that wait for a read run one after the other: sources read sequentially. */
  private queue: Promise<void> = Promise.resolve();
  private loadsPending = 0;
  private blocksRetransmitted = 0;
  private resolveDone!: (result: SessionResult) => void;
  readonly done: Promise<SessionResult>;

  constructor(private readonly opts: SessionOptions) {
    this.state = initialState({
      size: opts.source.size,
      blksize: opts.blksize,
      windowsize: opts.windowsize,
      maxRetries: opts.maxRetries,
      withOack: opts.oack.size > 0,
    });
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    opts.socket.on('message', (message) => this.onMessage(message));
    opts.socket.on('error', (err) => this.abort(err));
  }

  start(): void {
    this.handle({ type: 'start' });
  }

  /** Ends the transfer now (server shutdown, read error), telling the client why. */
  abort(reason: Error, message = 'transfer aborted'): void {
    if (this.state.finished) return;
    this.opts.log.warn({ err: reason }, 'tftp transfer aborted');
    this.sendError(ErrorCode.NotDefined, message);
    this.state = update(this.state, { finished: true });
    void this.close('aborted');
  }

  private onMessage(message: Buffer): void {
    const parsed = parsePacket(message);
    if (!parsed.ok) {
      this.opts.log.debug({ error: parsed.error }, 'tftp: malformed packet dropped');
      return;
    }
    const packet = parsed.packet;
    if (packet.type === 'ACK') this.handle({ type: 'ack', block: packet.block });
    else if (packet.type === 'ERROR') {
      this.opts.log.debug({ code: packet.code, message: packet.message }, 'tftp: client ended the transfer');
      this.handle({ type: 'peer-error' });
    } else this.opts.log.debug({ type: packet.type }, 'tftp: unexpected packet in a read transfer dropped');
  }

  private handle(event: TransferEvent): void {
    const { state, actions } = step(this.state, event);
    this.state = state;
    for (const action of actions) this.perform(action);
  }

  private perform(action: TransferAction): void {
    switch (action.type) {
      case 'send-oack':
        this.send([encodePacket({ type: 'OACK', options: this.opts.oack })]);
        return;
      case 'send-data':
        if (action.retransmit) this.blocksRetransmitted += action.to - action.from + 1;
        this.transmit(action.from, action.to);
        return;
      case 'finish':
        void this.close(action.outcome);
        return;
    }
  }

  /**
   * Sends blocks from..to: at once when they are in memory (the common case,
   * kept free of promises), else after reading them, unless a newer
   * transmission has been asked for in the meantime.
   */
  private transmit(from: number, to: number): void {
    const generation = ++this.generation;
    if (this.loadsPending === 0) {
      const packets = this.opts.source.ready(from, to, this.opts.blksize);
      if (packets) return this.send(packets);
    }
    this.loadsPending++;
    this.queue = this.queue
      .then(async () => {
        if (!this.isCurrent(generation)) return;
        const packets = await this.opts.source.load(from, to, this.opts.blksize);
        if (this.isCurrent(generation)) this.send(packets);
      })
      .catch((err: Error) => this.abort(err, 'read error'))
      .finally(() => this.loadsPending--);
  }

  private isCurrent(generation: number): boolean {
    return generation === this.generation && !this.state.finished;
  }

  private send(packets: Buffer[]): void {
    for (const packet of packets) this.opts.socket.send(packet);
    this.sends++;
    if (this.timer === undefined) {
      this.sendsSeen = this.sends;
      this.quietTicks = 0;
      this.timer = setTimeout(this.onTick, Math.max(1, Math.ceil(this.opts.timeoutMs / TIMER_TICKS)));
    }
  }

  /**
   * The retransmission timeout, without a clock read or a timer update per
   * packet (both showed in lock-step profiles): the timer looks TIMER_TICKS
   * times per timeout for sends since its last look, and the transfer times
   * out after TIMER_TICKS looks in a row without one, i.e. between 1 and
   * 1 + 1/TIMER_TICKS timeouts after the last send.
   */
  private readonly onTick = (): void => {
    if (this.sends !== this.sendsSeen) {
      this.sendsSeen = this.sends;
      this.quietTicks = 0;
    } else if (++this.quietTicks >= TIMER_TICKS) {
      this.timer = undefined;
      this.handle({ type: 'timeout' });
      return;
    }
    this.timer?.refresh();
  };

  private sendError(code: ErrorCode, message: string): void {
    try {
      this.opts.socket.send(encodeError(code, message));
    } catch {
      // The socket may already be closed; the client will time out.
    }
  }

  private async close(outcome: SessionResult['outcome']): Promise<void> {
    clearTimeout(this.timer);
    await this.queue;
    this.opts.socket.close();
    await this.opts.source.close().catch(() => {});
    const bytes = outcome === 'completed' ? this.opts.source.size : 0;
    this.resolveDone({
      outcome,
      bytes,
      blocksRetransmitted: this.blocksRetransmitted,
      ackedBlock: Math.max(0, this.state.acked),
    });
  }
}
