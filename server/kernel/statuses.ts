/**
 * The values of the nodes table's two status columns: the status of the
 * node's current install phase (seed 001) and of its reprovision (seed 000).
 * Here because the store types its rows with them and every domain reads them.
 */
export const PHASE_STATUSES = ['in_progress', 'completed', 'failed'] as const;
export type PhaseStatus = (typeof PHASE_STATUSES)[number];

export const REPROVISION_STATUSES = ['in_progress', 'completed', 'clustered', 'timeout', 'error'] as const;
export type ReprovisionStatus = (typeof REPROVISION_STATUSES)[number];
