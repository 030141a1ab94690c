import type { HistoryEntry } from '../store/history-repo';
import type { Node } from '../store/nodes-repo';
import { catalogueProgress, type PhaseCatalogue } from './phases';
import type { HistoryJson, NodeJson } from './schemas';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A node as the API shows it: the seeds' snake_case names, ISO times. */
export function nodeToJson(node: Node, catalogue: PhaseCatalogue): NodeJson {
  return {
    id: node.id,
    mac: node.mac,
    hostname: node.hostname,
    ip: node.ip,
    uuid: node.uuid,
    arch: node.arch,
    type: node.type,
    profile: node.profile,
    cluster: node.cluster,
    labels: node.labels,
    status: node.status,
    deployment_status: node.deploymentStatus,
    phase_status: node.deploymentPhaseStatus,
    phase_progress: node.progress,
    overall_progress: catalogueProgress(catalogue, node.deploymentStatus, node.deploymentPhaseStatus, node.progress),
    reprovision_status: node.reprovisionStatus,
    netboot_enabled: node.netbootEnabled,
    registered_at: iso(node.registeredAt),
    last_update: iso(node.lastUpdate),
    phase_started_at: iso(node.phaseStartedAt),
    reprovision_started: iso(node.reprovisionStarted),
  };
}

export function historyToJson(entry: HistoryEntry): HistoryJson {
  return {
    id: entry.id,
    node_id: entry.nodeId,
    phase: entry.phase,
    status: entry.status,
    message: entry.message,
    progress: entry.progress,
    source: entry.source,
    source_ip: entry.sourceIp,
    applied: entry.applied,
    at: iso(entry.at),
  };
}
