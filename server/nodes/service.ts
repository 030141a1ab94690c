import { EventEmitter } from 'node:events';
import type { Knex } from 'knex';
import { HistoryRepo, type HistoryEntry } from '../store/history-repo';
import { NodesRepo, type Node, type NodeChanges, type NodeFilter } from '../store/nodes-repo';
import { isStatementDataError, type Database } from '../store/db';
import { createPhaseStore, type NodeRef, type PhaseWrite, type PhaseWriteResult } from '../store/phase-store';
import { WriteBatcher } from '../store/write-batcher';
import { isDeployed, planPhaseReport, type HistorySource, type PhaseReportInput } from './phase-plan';
import { isKnownPhase, type PhaseCatalogue, type PhaseDecision, type PhaseStatus } from './phases';
import { deploymentSummary, type DeploymentSummary } from './summary';

export type Clock = () => number;

export type { HistorySource, PhaseReportInput };

export interface PhaseReportResult {
  node: Node;
  entry: HistoryEntry;
  decision: PhaseDecision;
}

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

/**
 * Node lifecycle: registration, phase reports, admin edits. Phase reports go
 * through the write batcher (group commit): the node row update and its
 * history row commit together, and the caller hears back only after commit.
 */
export class NodesService {
  readonly nodes: NodesRepo;
  readonly history: HistoryRepo;
  readonly events = new EventEmitter<{ change: [NodeEvent] }>();
  private readonly writer: WriteBatcher<PhaseWrite, PhaseWriteResult>;
  private readonly knex: Knex;

  constructor(
    db: Database,
    readonly catalogue: PhaseCatalogue,
    private readonly clock: Clock,
    options: { groupCommitMs?: number } = {},
  ) {
    this.knex = db.knex;
    this.nodes = new NodesRepo(db.knex);
    this.history = new HistoryRepo(db.knex);
    const store = createPhaseStore(db);
    // A report the database refuses (input validation should have caught it) fails alone, not with its batch.
    this.writer = new WriteBatcher((writes) => store.writeBatch(writes), { windowMs: options.groupCommitMs, isolate: isStatementDataError });
    this.events.setMaxListeners(1000);
  }

  /** Records a phase report for a node (by id or MAC); resolves after commit. */
  async reportPhase(ref: NodeRef, input: PhaseReportInput): Promise<PhaseReportResult> {
    if (!isKnownPhase(this.catalogue, input.phase)) throw new UnknownPhaseError(input.phase);
    const result = await this.writer.run({ ref, plan: (node) => planPhaseReport(this.catalogue, node, input, this.clock()) });
    if (!result.ok) throw new NodeNotFoundError(`no node ${'id' in ref ? ref.id : ref.mac}`);
    this.events.emit('change', { type: 'phase', node: result.node, entry: result.entry });
    return { node: result.node, entry: result.entry, decision: result.plan.decision };
  }

  /**
   * Records an event that is not an install phase (e.g. `dhcp_discover`) in
   * the node's history; it never changes the node's phase.
   */
  async recordEvent(ref: NodeRef, event: { name: string; message?: string | null; source: HistorySource; sourceIp?: string | null }): Promise<HistoryEntry | null> {
    const history = { phase: event.name, status: 'completed' as const, message: event.message ?? null, progress: null, source: event.source, sourceIp: event.sourceIp ?? null, applied: false, at: 0 };
    const result = await this.writer.run({ ref, plan: () => ({ decision: { apply: false, reason: 'event' }, fields: null, history: { ...history, at: this.clock() } }) });
    if (!result.ok) return null;
    this.events.emit('change', { type: 'phase', node: result.node, entry: result.entry });
    return result.entry;
  }

  isDeployed(phase: string, status: PhaseStatus | null): boolean {
    return isDeployed(this.catalogue, phase, status);
  }

  /**
   * Creates or updates a node by MAC (idempotent: the same call twice is one
   * node). `post-install-complete` marks the install complete (seed 000):
   * it is recorded as a `deployed` report.
   */
  async register(input: { mac: string; hostname?: string; ip?: string; type?: string; cluster?: string; uuid?: string; status?: 'registered' | 'post-install-complete'; sourceIp?: string | null }): Promise<{ node: Node; created: boolean }> {
    const now = this.clock();
    const fields: NodeChanges = { hostname: input.hostname, ip: input.ip, type: input.type, cluster: input.cluster, uuid: input.uuid, status: input.status, lastUpdate: now };
    let { node, created } = await this.knex.transaction(async (trx) => {
      const existing = await this.nodes.byMac(input.mac, trx);
      const saved = existing ? ((await this.nodes.update(existing.id, fields, trx)) ?? existing) : await this.nodes.insert(input.mac, { ...fields, status: input.status ?? 'registered' }, now, trx);
      await this.history.append({ nodeId: saved.id, phase: 'registered', status: 'completed', message: input.status ?? null, progress: null, source: 'installer', sourceIp: input.sourceIp ?? null, applied: true, at: now }, trx);
      return { node: saved, created: !existing };
    });
    if (input.status === 'post-install-complete') {
      const deployed = this.catalogue.ordered[this.catalogue.ordered.length - 1]!;
      node = (await this.reportPhase({ id: node.id }, { phase: deployed, status: 'completed', message: 'post-install-complete', source: 'installer', sourceIp: input.sourceIp })).node;
    } else {
      this.events.emit('change', { type: 'node', node });
    }
    return { node, created };
  }

  async create(mac: string, fields: NodeChanges): Promise<Node> {
    const node = await this.nodes.insert(mac, fields, this.clock());
    this.events.emit('change', { type: 'node', node });
    return node;
  }

  async update(id: number, changes: NodeChanges): Promise<Node | null> {
    const node = await this.nodes.update(id, { ...changes, lastUpdate: this.clock() });
    if (node) this.events.emit('change', { type: 'node', node });
    return node;
  }

  async delete(id: number): Promise<boolean> {
    const deleted = await this.nodes.delete(id);
    if (deleted) this.events.emit('change', { type: 'node_deleted', id });
    return deleted;
  }

  list(filter: NodeFilter): Promise<Node[]> {
    return this.nodes.list(filter);
  }

  summary(): Promise<DeploymentSummary> {
    return deploymentSummary(this.knex, this.catalogue.ordered[this.catalogue.ordered.length - 1]!, this.catalogue.failure);
  }

  /** Waits for queued writes to commit (graceful shutdown). */
  flush(): Promise<void> {
    return this.writer.flush();
  }
}
