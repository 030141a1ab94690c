import { EventEmitter } from 'node:events';
import {
  bindFields,
  checkPhoneHome,
  checkRoundAddress,
  openRound,
  plainAddress,
  type RoundCaller,
  type RoundPolicy,
} from '../auth/rounds.js';
import type { HistoryRepo, HistoryEntry, HistoryPage, HistoryPageOptions } from '../store/history-repo.js';
import type { NodesRepo, Node, NodeChanges, NodeFilter } from '../store/nodes-repo.js';
import { isStatementDataError } from '../store/errors.js';
import type { DiscoveriesRepo } from '../store/discoveries-repo.js';
import type { Repositories, RunInTransaction } from '../store/repositories.js';
import { type NodeRef, type PhaseWrite, type PhaseWriteResult } from '../store/phase-store.js';
import { WriteBatcher } from '../store/write-batcher.js';
import { ValidationError } from '../kernel/errors.js';
import {
  isDeployed,
  planPhaseReport,
  type HistorySource,
  type PhasePlan,
  type PhaseReportInput,
} from './phase-plan.js';
import { isKnownPhase, type PhaseCatalogue, type PhaseDecision, type PhaseStatus } from './phases.js';
import { deploymentSummary, type DeploymentSummary } from './summary.js';
import type { RegisterBody } from './validation.js';
import type { Clock } from '../kernel/clock.js';
import type { LifecycleChange } from './lifecycle.js';
import { lookupNode, resolveNodeRef, type NodeLookup } from './lookup.js';
import { NodeCache } from './node-cache.js';

export type { HistorySource, PhaseReportInput };

export interface PhaseReportResult {
  node: Node;
  entry: HistoryEntry;
  decision: PhaseDecision;
}

/** What a machine says of itself at boot (iPXE's query string). */
export interface BootFacts {
  uuid: string | null;
  arch: string | null;
}

/** Subscribing to node changes; emitting is the nodes service's alone. */
export type NodeEventSource = Pick<EventEmitter<{ change: [NodeEvent] }>, 'on' | 'off' | 'listenerCount'>;

export type NodeEvent =
  | { type: 'phase'; node: Node; entry: HistoryEntry }
  | { type: 'node'; node: Node }
  | { type: 'node_deleted'; id: number };

export class UnknownPhaseError extends Error {
  constructor(readonly phase: string) {
    super(`unknown phase ${phase}`);
  }
}

export class NodeNotFoundError extends Error {}

/** A phone-home call refused by its install round (wrong or old token, closed round, another address). */
export class RoundRefusedError extends Error {}

/** Who made a phone-home call: what it presented and where it came from. */
export interface PhoneHomeCaller {
  token: string | null;
  sourceIp: string;
}

/** What a register call says of its node (the token and host keys are checked and pinned elsewhere). */
export type RegisterInput = Omit<RegisterBody, 'token' | 'host_keys'>;

/** The repositories the nodes service writes through; it is their one writer. */
export type NodeStore = Pick<
  Repositories,
  'nodes' | 'history' | 'phases' | 'discoveries' | 'summaryRows' | 'transaction'
>;

export interface NodesServiceOptions {
  groupCommitMs?: number;
  /** How long a node read by MAC is served from memory (database.nodeCacheMs); 0 or unset: always read. */
  cacheMs?: number;
  rounds: RoundPolicy;
  /** auth.bindSource lease: the address homeport's DHCP leased to a MAC. */
  leaseIp?: (mac: string) => Promise<string | null>;
  /** Why an ip may not be stored on a node (reservationProblem in full DHCP mode), or none. */
  ipRule?: NodeIpRule;
}

/** A node ip that full-mode DHCP could not hand out (the router, the server, off its subnet...): a 400 at input. */
export class InvalidNodeIpError extends ValidationError {
  constructor(reason: string) {
    super('ip', reason);
  }
}

/** Why an ip may not be stored on a node, or null (dhcp/reservations.ts reservationProblem in full mode). */
export type NodeIpRule = (ip: string) => string | null;

/**
 * Node lifecycle: registration, phase reports, admin edits. Phase reports go
 * through the write batcher (group commit): the node row update and its
 * history row commit together, and the caller hears back only after commit.
 */
export class NodesService {
  private readonly nodes: NodesRepo;
  private readonly history: HistoryRepo;
  private readonly emitter = new EventEmitter<{ change: [NodeEvent] }>();
  /** Every change of a node or its history, after commit. Only this service emits: it is the one writer of both tables. */
  readonly events: NodeEventSource = this.emitter;
  private readonly writer: WriteBatcher<PhaseWrite<PhasePlan>, PhaseWriteResult<PhasePlan>>;
  /** uuid/arch that iPXE reported, batched like phase reports (a fleet booting at once has many first sightings). */
  private readonly factsWriter: WriteBatcher<{ id: number } & BootFacts, Node | null>;
  /** First-use bindings of install rounds, group-committed too: a rack's first script fetches bind at once. */
  private readonly binds: WriteBatcher<{ node: Node; changes: NodeChanges }, boolean>;
  private readonly discoveries: DiscoveriesRepo;
  private readonly transaction: RunInTransaction;
  private readonly cache: NodeCache;
  /** Counts published writes, so that a read raced by a write does not fill the cache with the older row. */
  private writes = 0;
  private readonly summaryRows: Repositories['summaryRows'];
  private readonly ipRule: NodeIpRule | undefined;

  readonly rounds: RoundPolicy;
  private readonly leaseIp: (mac: string) => Promise<string | null>;

  constructor(
    store: NodeStore,
    readonly catalogue: PhaseCatalogue,
    private readonly clock: Clock,
    options: NodesServiceOptions,
  ) {
    this.rounds = options.rounds;
    this.leaseIp = options.leaseIp ?? (async () => null);
    this.ipRule = options.ipRule;
    this.transaction = store.transaction;
    this.cache = new NodeCache(options.cacheMs ?? 0);
    this.summaryRows = store.summaryRows;
    this.nodes = store.nodes;
    this.history = store.history;
    this.discoveries = store.discoveries;
    // A report the database refuses (input validation should have caught it) fails alone, not with its batch.
    this.writer = new WriteBatcher((writes) => store.phases.writeBatch(writes), {
      windowMs: options.groupCommitMs,
      isolate: isStatementDataError,
    });
    this.factsWriter = new WriteBatcher((updates) => this.nodes.updateEach(updates), {
      windowMs: options.groupCommitMs,
    });
    this.binds = new WriteBatcher((binds) => this.nodes.updateEachIfRoundUnchanged(binds), {
      windowMs: options.groupCommitMs,
    });
    this.emitter.setMaxListeners(1000);
  }

  byId(id: number): Promise<Node | null> {
    return this.nodes.byId(id);
  }

  /** From the node cache when it holds the MAC (see node-cache.ts), else from the store. */
  async byMac(mac: string): Promise<Node | null> {
    const cached = this.cache.get(mac, this.clock());
    if (cached) return cached;
    // A write published while this read was on its way may be newer than what it read: keep only an unraced read.
    const generation = this.writes;
    const node = await this.nodes.byMac(mac);
    return node && generation === this.writes ? this.cache.refresh(node, this.clock()) : node;
  }

  /** Every change leaves through here: the cache learns it, then subscribers do. */
  private publish(event: NodeEvent): void {
    if (event.type === 'node_deleted') {
      this.writes++;
      this.cache.clear();
    } else this.wrote(event.node);
    this.emitter.emit('change', event);
  }

  /** A node as this service just wrote it: the cache's newest copy. */
  private wrote(node: Node): void {
    this.writes++;
    this.cache.put(node, this.clock());
  }

  byIp(ip: string): Promise<Node | null> {
    return this.nodes.byIp(ip);
  }

  /** The node a person named by id, MAC or hostname (see lookup.ts). */
  lookup(ref: string): Promise<NodeLookup> {
    return lookupNode(this.nodes, ref);
  }

  /** For the API: the node named by id, MAC or hostname, or the 400/404/409 that says why not. */
  resolve(ref: string, field?: string): Promise<Node> {
    return resolveNodeRef(this.nodes, ref, field);
  }

  historyPage(nodeId: number, options: HistoryPageOptions): Promise<HistoryPage> {
    return this.history.page(nodeId, options);
  }

  /**
   * Records a phase report for a node (by id or MAC); resolves after commit.
   * With a caller (an installer's call), the node's install round must accept
   * it: checked inside the write's transaction, on the row being written.
   */
  async reportPhase(ref: NodeRef, input: PhaseReportInput, caller?: PhoneHomeCaller): Promise<PhaseReportResult> {
    if (!isKnownPhase(this.catalogue, input.phase)) throw new UnknownPhaseError(input.phase);
    const roundCaller = caller && (await this.roundCaller(ref, caller));
    const result = await this.writer.run({
      ref,
      plan: (node) => {
        const now = this.clock();
        const verdict = caller
          ? checkPhoneHome(this.rounds, node, caller.token, roundCaller!, now)
          : ({ ok: true, bind: null } as const);
        if (!verdict.ok) return { refused: verdict.reason };
        return planPhaseReport(this.catalogue, node, input, now, { graceMs: this.rounds.graceMs, bind: verdict.bind });
      },
    });
    if (!result.ok && result.error === 'refused') throw new RoundRefusedError(result.reason);
    if (!result.ok) throw new NodeNotFoundError(`no node ${'id' in ref ? ref.id : ref.mac}`);
    this.publish({ type: 'phase', node: result.node, entry: result.entry });
    return { node: result.node, entry: result.entry, decision: result.plan.decision };
  }

  /**
   * Records an event that is not an install phase (e.g. `dhcp_discover`) in
   * the node's history; it never changes the node's phase.
   */
  async recordEvent(
    ref: NodeRef,
    event: { name: string; message?: string | null; source: HistorySource; sourceIp?: string | null },
  ): Promise<HistoryEntry | null> {
    const history = {
      phase: event.name,
      status: 'completed' as const,
      message: event.message ?? null,
      progress: null,
      source: event.source,
      sourceIp: event.sourceIp ?? null,
      applied: false,
      at: 0,
    };
    const result = await this.writer.run({
      ref,
      plan: () => ({
        decision: { apply: false, reason: 'event' },
        fields: null,
        history: { ...history, at: this.clock() },
      }),
    });
    if (!result.ok) return null;
    this.publish({ type: 'phase', node: result.node, entry: result.entry });
    return result.entry;
  }

  /**
   * May this request have the node's round secrets (per-node script,
   * configs)? Binds the round to the caller on its first such request
   * (compare-and-set: of two first requests from different addresses, one
   * wins and the other is refused). Admitted, it answers the node as stored
   * now, so the caller renders from it without reading it again.
   */
  async admitToRound(node: Node, sourceIp: string): Promise<{ ok: true; node: Node } | { ok: false; reason: string }> {
    const caller = await this.roundCaller({ mac: node.mac }, { token: null, sourceIp });
    const verdict = checkRoundAddress(this.rounds, node, caller, this.clock());
    if (!verdict.ok) return verdict;
    if (verdict.bind === null) return { ok: true, node };
    const bound = await this.binds.run({ node, changes: bindFields(verdict.bind) });
    if (bound) {
      const boundNode = { ...node, ...bindFields(verdict.bind) };
      this.wrote(boundNode);
      return { ok: true, node: boundNode };
    }
    const current = await this.nodes.byId(node.id);
    if (!current) return { ok: false, reason: `${node.mac} was deleted` };
    const again = checkRoundAddress(this.rounds, current, caller, this.clock());
    return again.ok ? { ok: true, node: current } : again;
  }

  /** The lease lookup only when auth.bindSource is lease (a query per call otherwise wasted). */
  private async roundCaller(ref: NodeRef, caller: PhoneHomeCaller): Promise<RoundCaller> {
    if (this.rounds.bindSource !== 'lease') return { sourceIp: caller.sourceIp };
    const mac = 'mac' in ref ? ref.mac : (await this.nodes.byId(ref.id))?.mac;
    return { sourceIp: caller.sourceIp, leaseIp: mac ? await this.leaseIp(mac) : null };
  }

  isDeployed(phase: string, status: PhaseStatus | null): boolean {
    return isDeployed(this.catalogue, phase, status);
  }

  /**
   * An installer registers its node (seed 000's register-node): idempotent,
   * the same call twice is one node. `post-install-complete` marks the
   * install complete: it is recorded as a `deployed` report. The call must
   * pass the node's install round (token, bound address). What it says of
   * itself is not trusted: `ip` is stored as reported (never connected to),
   * and `cluster` only fills an empty one. A MAC homeport does not know is
   * refused unless auth.openPhoneHome (trusted labs), where the call creates
   * the node with a round bound to the caller.
   */
  async register(input: RegisterInput, caller: PhoneHomeCaller): Promise<{ node: Node; created: boolean }> {
    const now = this.clock();
    const fields: NodeChanges = {
      hostname: input.hostname,
      reportedIp: input.ip,
      type: input.type,
      uuid: input.uuid,
      status: input.status,
      lastUpdate: now,
    };
    const leaseIp = this.rounds.bindSource === 'lease' ? await this.leaseIp(input.mac) : null;
    const registered = await this.transaction(async (trx) => {
      const existing = await this.nodes.byMac(input.mac, trx);
      let saved: Node;
      if (existing) {
        const verdict = checkPhoneHome(
          this.rounds,
          existing,
          caller.token,
          { sourceIp: caller.sourceIp, leaseIp },
          now,
        );
        if (!verdict.ok) throw new RoundRefusedError(verdict.reason);
        saved =
          (await this.nodes.update(
            existing.id,
            { ...fields, ...bindFields(verdict.bind), cluster: existing.cluster ?? input.cluster },
            trx,
          )) ?? existing;
      } else {
        if (!this.rounds.openPhoneHome)
          throw new NodeNotFoundError(
            `no node ${input.mac}: an admin adds it (POST /api/nodes or an import), or it boots under boot.unknown: discover`,
          );
        saved = await this.nodes.insert(
          input.mac,
          {
            ...fields,
            ...openRound(now),
            ...bindFields(plainAddress(caller.sourceIp)),
            cluster: input.cluster,
            status: input.status ?? 'registered',
          },
          now,
          trx,
        );
      }
      await this.history.append(
        {
          nodeId: saved.id,
          phase: 'registered',
          status: 'completed',
          message: input.status ?? null,
          progress: null,
          source: 'installer',
          sourceIp: caller.sourceIp,
          applied: true,
          at: now,
        },
        trx,
      );
      return { node: saved, created: !existing };
    });
    let node = registered.node;
    if (input.status === 'post-install-complete') {
      const deployed = this.catalogue.ordered[this.catalogue.ordered.length - 1]!;
      node = (
        await this.reportPhase(
          { id: node.id },
          {
            phase: deployed,
            status: 'completed',
            message: 'post-install-complete',
            source: 'installer',
            sourceIp: caller.sourceIp,
          },
        )
      ).node;
    } else {
      this.publish({ type: 'node', node });
    }
    return { node, created: registered.created };
  }

  /** A node added by an admin, an import or discovery: its install round opens now. */
  async create(mac: string, fields: NodeChanges): Promise<Node> {
    this.checkIp(fields.ip);
    const now = this.clock();
    const node = await this.nodes.insert(mac, { ...openRound(now), ...fields }, now);
    this.publish({ type: 'node', node });
    return node;
  }

  async update(id: number, changes: NodeChanges): Promise<Node | null> {
    this.checkIp(changes.ip);
    const node = await this.nodes.update(id, { ...changes, lastUpdate: this.clock() });
    if (node) this.publish({ type: 'node', node });
    return node;
  }

  /** Every write of a node's ip (phone-home, admin, import) passes here. */
  private checkIp(ip: string | null | undefined): void {
    const problem = ip ? this.ipRule?.(ip) : null;
    if (problem) throw new InvalidNodeIpError(problem);
  }

  async delete(id: number): Promise<boolean> {
    const deleted = await this.nodes.delete(id);
    if (deleted) this.publish({ type: 'node_deleted', id });
    return deleted;
  }

  list(filter: NodeFilter): Promise<Node[]> {
    return this.nodes.list(filter);
  }

  async summary(): Promise<DeploymentSummary> {
    const deployedPhase = this.catalogue.ordered[this.catalogue.ordered.length - 1]!;
    return deploymentSummary(await this.summaryRows(deployedPhase, this.catalogue.failure));
  }

  /**
   * Reprovision-status changes (admin trigger, watcher verdicts, formation
   * outcomes): the node row and its history row in one transaction, then the
   * change event. With `expect`, a change that lost a race (the node moved
   * meanwhile) writes nothing and answers null.
   */
  async applyLifecycle(change: LifecycleChange): Promise<Node | null> {
    const now = this.clock();
    const node = await this.transaction(async (trx) => {
      const updated = await this.nodes.updateIfStatus(
        change.nodeId,
        change.expect,
        { ...change.changes, lastUpdate: now },
        trx,
      );
      if (!updated) return null;
      const entry = {
        nodeId: change.nodeId,
        ...change.history,
        progress: null,
        sourceIp: null,
        applied: true,
        at: now,
      };
      await this.history.append(entry, trx);
      return updated;
    });
    if (node) this.publish({ type: 'node', node });
    return node;
  }

  /** Stores the uuid/arch a machine reported when they changed (a write only then). */
  async rememberFacts(node: Node, facts: Partial<BootFacts>): Promise<Node> {
    const changes = { uuid: facts.uuid ?? node.uuid, arch: facts.arch ?? node.arch };
    if (changes.uuid === node.uuid && changes.arch === node.arch) return node;
    const saved = await this.factsWriter.run({ id: node.id, ...changes });
    if (saved) this.publish({ type: 'node', node: saved });
    return saved ?? node;
  }

  /** Deletes discovered machines registered before `cutoff` that never phoned home; answers their ids. */
  async expireDiscoveries(cutoff: number): Promise<number[]> {
    const ids = await this.discoveries.deleteUnreportedBefore(cutoff);
    for (const id of ids) this.publish({ type: 'node_deleted', id });
    return ids;
  }

  /** Waits for queued writes to commit (graceful shutdown). */
  async flush(): Promise<void> {
    await this.writer.flush();
    await this.factsWriter.flush();
    await this.binds.flush();
  }
}
