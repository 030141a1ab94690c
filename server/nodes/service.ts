import { EventEmitter } from 'node:events';
import type { Knex } from 'knex';
import { HistoryRepo, type HistoryEntry } from '../store/history-repo';
import { NodesRepo, type Node, type NodeChanges, type NodeFilter } from '../store/nodes-repo';
import { WriteBatcher } from '../store/write-batcher';
import { deploymentSummary, type DeploymentSummary } from './summary';
import { decidePhase, isKnownPhase, type PhaseCatalogue, type PhaseDecision, type PhaseStatus } from './phases';

export type Clock = () => number;

/** Where a history row came from. */
export type HistorySource = 'installer' | 'server' | 'dhcp' | 'watcher' | 'admin';

export interface PhaseReportInput {
  nodeId: number;
  phase: string;
  status: PhaseStatus;
  message?: string | null;
  progress?: number | null;
  source: HistorySource;
  sourceIp?: string | null;
}

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
  private readonly writer: WriteBatcher;

  constructor(
    private readonly knex: Knex,
    readonly catalogue: PhaseCatalogue,
    private readonly clock: Clock,
  ) {
    this.nodes = new NodesRepo(knex);
    this.history = new HistoryRepo(knex);
    this.writer = new WriteBatcher(knex);
    this.events.setMaxListeners(1000);
  }

  /** Reads the node row with a row lock on PostgreSQL, so concurrent reports for one node serialise. */
  private async lockNode(trx: Knex.Transaction, where: Record<string, unknown>): Promise<Node | null> {
    const query = trx('nodes').where(where).first();
    if (this.knex.client.config.client === 'pg') query.forUpdate();
    const row = await query;
    return row ? (await this.nodes.byId(Number(row.id), trx)) : null;
  }

  async reportPhase(input: PhaseReportInput): Promise<PhaseReportResult> {
    if (!isKnownPhase(this.catalogue, input.phase)) throw new UnknownPhaseError(input.phase);
    const result = await this.writer.run(async (trx) => {
      const node = await this.lockNode(trx, { id: input.nodeId });
      if (!node) throw new NodeNotFoundError(`node ${input.nodeId} not found`);
      return this.applyPhase(trx, node, input);
    });
    this.events.emit('change', { type: 'phase', node: result.node, entry: result.entry });
    return result;
  }

  /** The decision, node update and history row of one report, inside a transaction. */
  private async applyPhase(trx: Knex.Transaction, node: Node, input: PhaseReportInput): Promise<PhaseReportResult> {
    const now = this.clock();
    const decision = decidePhase(this.catalogue, { phase: node.deploymentStatus, phaseStatus: node.deploymentPhaseStatus }, { phase: input.phase, status: input.status });
    let updated = node;
    if (decision.apply) {
      const changes: NodeChanges = {
        deploymentStatus: decision.next.phase,
        deploymentPhaseStatus: decision.next.phaseStatus,
        progress: input.progress ?? null,
        lastUpdate: now,
      };
      if (decision.next.phase !== node.deploymentStatus) changes.phaseStartedAt = now;
      if (this.isDeployed(decision.next.phase, decision.next.phaseStatus)) {
        // Boot-once: a deployed node boots from its disk until reprovisioned.
        changes.netbootEnabled = false;
      }
      if (decision.reason === 'failure' && node.reprovisionStatus === 'in_progress') changes.reprovisionStatus = 'error';
      updated = (await this.nodes.update(node.id, changes, trx)) ?? node;
    }
    const entry = await this.history.append(
      {
        nodeId: node.id,
        phase: input.phase,
        status: input.status,
        message: input.message ?? null,
        progress: input.progress ?? null,
        source: input.source,
        sourceIp: input.sourceIp ?? null,
        applied: decision.apply,
        at: now,
      },
      trx,
    );
    return { node: updated, entry, decision };
  }

  isDeployed(phase: string, status: PhaseStatus | null): boolean {
    return phase === this.catalogue.ordered[this.catalogue.ordered.length - 1] && status === 'completed';
  }

  /**
   * Creates or updates a node by MAC (idempotent: the same call twice is one
   * node). `post-install-complete` marks the install complete (seed 000):
   * it is recorded as a `deployed` report.
   */
  async register(input: { mac: string; hostname?: string; ip?: string; type?: string; cluster?: string; uuid?: string; status?: 'registered' | 'post-install-complete'; sourceIp?: string | null }): Promise<{ node: Node; created: boolean }> {
    const result = await this.writer.run(async (trx) => {
      const now = this.clock();
      const fields: NodeChanges = { hostname: input.hostname, ip: input.ip, type: input.type, cluster: input.cluster, uuid: input.uuid, lastUpdate: now };
      if (input.status) fields.status = input.status;
      const existing = await this.lockNode(trx, { mac: input.mac });
      let node = existing ? ((await this.nodes.update(existing.id, fields, trx)) ?? existing) : await this.nodes.insert(input.mac, { ...fields, status: input.status ?? 'registered' }, now, trx);
      const created = !existing;
      await this.history.append({ nodeId: node.id, phase: 'registered', status: 'completed', message: input.status ?? null, progress: null, source: 'installer', sourceIp: input.sourceIp ?? null, applied: true, at: now }, trx);
      if (input.status === 'post-install-complete') {
        const deployed = this.catalogue.ordered[this.catalogue.ordered.length - 1]!;
        node = (await this.applyPhase(trx, node, { nodeId: node.id, phase: deployed, status: 'completed', message: 'post-install-complete', source: 'installer', sourceIp: input.sourceIp })).node;
      }
      return { node, created };
    });
    this.events.emit('change', { type: 'node', node: result.node });
    return result;
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
