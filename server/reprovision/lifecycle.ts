import type { Knex } from 'knex';
import type { HistorySource } from '../nodes/phase-plan.js';
import type { ReprovisionStatus } from '../nodes/phases.js';
import type { Clock } from '../kernel/clock.js';
import type { NodesService } from '../nodes/service.js';
import { changesToRow, rowToNode, type Node, type NodeChanges } from '../store/nodes-repo.js';

/** History rows of the reprovision workflow use these names besides install phases. */
export const REPROVISION_EVENT = 'reprovision';
export const FORMATION_EVENT = 'cluster_formation';

export interface LifecycleChange {
  nodeId: number;
  /** Compare-and-set: apply only while the node's reprovision_status is one of these. */
  expect?: readonly (ReprovisionStatus | null)[];
  changes: NodeChanges;
  history: { phase: string; status: 'in_progress' | 'completed' | 'failed'; message: string; source: HistorySource };
}

/**
 * Reprovision-status changes (admin trigger, watcher verdicts, formation
 * outcomes): the node row and its history row in one transaction, then the
 * nodes service's change event so the status page sees it. With `expect`, a
 * change that lost a race (the node moved meanwhile) writes nothing.
 */
export class NodeLifecycle {
  constructor(
    private readonly knex: Knex,
    private readonly nodes: NodesService,
    private readonly clock: Clock,
  ) {}

  async apply(change: LifecycleChange): Promise<Node | null> {
    const now = this.clock();
    const node = await this.knex.transaction(async (trx) => {
      const query = trx('nodes').where({ id: change.nodeId });
      if (change.expect) query.where((w) => expectStatus(w, change.expect!));
      const [row] = (await query.update(changesToRow({ ...change.changes, lastUpdate: now })).returning('*')) as Record<
        string,
        unknown
      >[];
      if (!row) return null;
      await this.nodes.history.append(
        { nodeId: change.nodeId, ...change.history, progress: null, sourceIp: null, applied: true, at: now },
        trx,
      );
      return rowToNode(row);
    });
    if (node) this.nodes.events.emit('change', { type: 'node', node });
    return node;
  }
}

function expectStatus(query: Knex.QueryBuilder, statuses: readonly (ReprovisionStatus | null)[]): void {
  const values = statuses.filter((s): s is ReprovisionStatus => s !== null);
  if (values.length) query.whereIn('reprovision_status', values);
  if (statuses.includes(null)) query.orWhereNull('reprovision_status');
}
