import { isRoundOpen } from '../auth/rounds.js';
import type { HistoryEntry } from '../store/history-repo.js';
import type { Node } from '../store/nodes-repo.js';
import { addressMismatch, nodeAddress } from './address.js';
import { catalogueProgress, type PhaseCatalogue } from './phases.js';
import type { HistoryJson, NodeJson } from './schemas.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Which of a node's labels a caller may see. */
export type LabelFilter = (name: string) => boolean;

/** Label names that hold BMC / out-of-band addresses by convention (bmc, bmc_ip, ipmi, idrac, ilo, redfish, oob, ...). */
const BMC_LABEL = /^(bmc|ipmi|idrac|ilo|xcc|redfish|oob)([._-]|$)/i;

/**
 * Labels for readers who are not admins: without the BMC address (the
 * configured reprovision.redfish.bmcLabel and the conventional names). A BMC
 * reached from the boot network is a machine's power switch and console.
 */
export function readerLabels(bmcLabel?: string): LabelFilter {
  return (name) => name !== bmcLabel && !BMC_LABEL.test(name);
}

/** Admins see every label. */
export const allLabels: LabelFilter = () => true;

export function filterLabels(labels: Record<string, string>, show: LabelFilter): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([name]) => show(name)));
}

/** A node as the API shows it: the seeds' snake_case names, ISO times; BMC labels only when `showLabel` allows them. */
export function nodeToJson(node: Node, catalogue: PhaseCatalogue, showLabel: LabelFilter = readerLabels()): NodeJson {
  return {
    id: node.id,
    mac: node.mac,
    hostname: node.hostname,
    ip: node.ip,
    address: nodeAddress(node),
    reported_ip: node.reportedIp,
    address_warning: addressMismatch(node),
    install_round: {
      open: isRoundOpen(node, Date.now()),
      opened_at: iso(node.roundOpenedAt),
      closes_at: iso(node.roundClosesAt),
      bound_ip: node.roundBoundIp,
    },
    uuid: node.uuid,
    arch: node.arch,
    type: node.type,
    profile: node.profile,
    cluster: node.cluster,
    labels: filterLabels(node.labels, showLabel),
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
