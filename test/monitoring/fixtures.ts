import type { HistoryEntry } from '../../server/store/history-repo.js';
import type { Job, JobStage } from '../../server/store/jobs-repo.js';
import type { Node } from '../../server/store/nodes-repo.js';

export const NOW = Date.parse('2026-11-23T12:00:00Z');

/** A node as the store returns it; only what a test names differs. */
export function node(id: number, fields: Partial<Node> = {}): Node {
  return {
    id,
    mac: `52:54:00:00:00:${id.toString(16).padStart(2, '0')}`,
    hostname: `node${id}`,
    ip: null,
    uuid: null,
    arch: null,
    type: null,
    profile: null,
    cluster: null,
    labels: {},
    status: 'registered',
    deploymentStatus: 'pending',
    deploymentPhaseStatus: null,
    progress: null,
    reprovisionStatus: null,
    netbootEnabled: true,
    registeredAt: NOW - 3_600_000,
    lastUpdate: NOW - 60_000,
    phaseStartedAt: null,
    reprovisionStarted: null,
    reprovisionTimeoutMin: null,
    roundNonce: null,
    roundOpenedAt: null,
    roundClosesAt: null,
    roundBoundIp: null,
    observedIp: null,
    reportedIp: null,
    ...fields,
  };
}

export function entry(id: number, fields: Partial<HistoryEntry> = {}): HistoryEntry {
  return {
    id,
    nodeId: 1,
    phase: 'installation',
    status: 'in_progress',
    message: null,
    progress: null,
    source: 'installer',
    sourceIp: null,
    applied: true,
    at: NOW,
    ...fields,
  };
}

/** A job as the store returns it: pending, due at NOW, two stages not started. */
export function job(id: number, fields: Partial<Job> = {}): Job {
  return {
    id,
    type: 'reprovision',
    params: {},
    status: 'pending',
    runAt: NOW,
    claimedBy: null,
    leaseUntil: null,
    attempts: 0,
    maxAttempts: 3,
    stage: null,
    percent: null,
    message: null,
    stages: [stage('prepare'), stage('reinstall')],
    log: '',
    cancelRequested: false,
    cluster: null,
    nodeIds: [],
    result: null,
    error: null,
    dedupeKey: null,
    createdAt: NOW - 120_000,
    updatedAt: NOW - 60_000,
    startedAt: null,
    finishedAt: null,
    ...fields,
  };
}

export function stage(name: string, fields: Partial<JobStage> = {}): JobStage {
  return { name, state: 'pending', percent: null, message: null, data: {}, startedAt: null, endedAt: null, ...fields };
}
