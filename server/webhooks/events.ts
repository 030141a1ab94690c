import type { ClusterRow } from '../store/clusters-repo.js';
import type { NodeEvent } from '../nodes/service.js';

/** What a webhook receives: one JSON object per event. */
export type WebhookEventName = 'phase' | 'timeout' | 'cluster_formed' | 'cluster_failed';
export const WEBHOOK_EVENTS: readonly WebhookEventName[] = ['phase', 'timeout', 'cluster_formed', 'cluster_failed'];

export interface WebhookPayload {
  event: WebhookEventName;
  at: string;
  [key: string]: unknown;
}

/**
 * Turns store events into webhook payloads (pure apart from the memory of
 * what was already announced): a phase report is one event; a timeout or a
 * cluster's formed/failed state is announced once, when it is reached, not
 * again on every later change of the same node or cluster.
 */
export class WebhookEventMapper {
  private readonly reprovisionById = new Map<number, string | null>();
  private readonly clusterState = new Map<string, string>();

  fromNodeEvent(event: NodeEvent): WebhookPayload | null {
    if (event.type === 'node_deleted') {
      this.reprovisionById.delete(event.id);
      return null;
    }
    const node = { id: event.node.id, mac: event.node.mac, hostname: event.node.hostname, cluster: event.node.cluster };
    if (event.type === 'phase') {
      const e = event.entry;
      return {
        event: 'phase',
        at: new Date(e.at).toISOString(),
        node,
        phase: e.phase,
        status: e.status,
        message: e.message,
        applied: e.applied,
      };
    }
    const previous = this.reprovisionById.get(event.node.id);
    this.reprovisionById.set(event.node.id, event.node.reprovisionStatus);
    if (event.node.reprovisionStatus !== 'timeout' || previous === 'timeout') return null;
    return {
      event: 'timeout',
      at: new Date(event.node.lastUpdate).toISOString(),
      node,
      deployment_status: event.node.deploymentStatus,
    };
  }

  fromCluster(cluster: ClusterRow): WebhookPayload | null {
    const previous = this.clusterState.get(cluster.name);
    this.clusterState.set(cluster.name, cluster.state);
    if (previous === cluster.state) return null;
    if (cluster.state !== 'formed' && cluster.state !== 'error') return null;
    return {
      event: cluster.state === 'formed' ? 'cluster_formed' : 'cluster_failed',
      at: new Date(cluster.updatedAt).toISOString(),
      cluster: { name: cluster.name, driver: cluster.driver, state: cluster.state, last_error: cluster.lastError },
    };
  }
}
