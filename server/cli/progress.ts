/**
 * What `homeport reprovision --wait` shows and when it stops (pure: the
 * API's JSON in, lines and a verdict out).
 */
export interface WatchedNode {
  id: number;
  mac: string;
  hostname: string | null;
  cluster: string | null;
  deployment_status: string;
  phase_status: string | null;
  /** 0..100 within the phase, when the installer says. */
  phase_progress: number | null;
  overall_progress: number;
  reprovision_status: string | null;
  reprovision_started: string | null;
}

export interface WatchedCluster {
  name: string;
  state: string;
  last_error: string | null;
}

export type WaitVerdict = { done: false } | { done: true; ok: boolean; message: string };

const name = (n: WatchedNode) => n.hostname ?? n.mac;

/**
 * Done when every node is clustered (or completed, when it has no
 * cluster); failed as soon as one node times out or errs or one of their
 * clusters fails to form.
 */
export function waitVerdict(nodes: readonly WatchedNode[], clusters: readonly WatchedCluster[]): WaitVerdict {
  const failed = nodes.filter((n) => n.reprovision_status === 'timeout' || n.reprovision_status === 'error');
  if (failed.length)
    return {
      done: true,
      ok: false,
      message: `failed: ${failed.map((n) => `${name(n)} ${n.reprovision_status}`).join(', ')}`,
    };
  const ours = new Set(nodes.flatMap((n) => (n.cluster ? [n.cluster] : [])));
  const broken = clusters.filter((c) => ours.has(c.name) && c.state === 'error');
  if (broken.length)
    return {
      done: true,
      ok: false,
      message: `failed: ${broken.map((c) => `cluster ${c.name}: ${c.last_error ?? 'error'}`).join('; ')}`,
    };
  const finished = (n: WatchedNode) =>
    n.reprovision_status === 'clustered' || (n.reprovision_status === 'completed' && !n.cluster);
  if (nodes.every(finished)) {
    const formed = [...ours].sort();
    return {
      done: true,
      ok: true,
      message: `done: ${nodes.length} node(s) reprovisioned${formed.length ? `, cluster ${formed.join(', ')} formed` : ''}`,
    };
  }
  return { done: false };
}

/** What a plain-line display prints a line for when it changes. */
export function nodeState(n: WatchedNode): string {
  return `${n.deployment_status}/${n.phase_status ?? '-'}/${n.reprovision_status ?? '-'}`;
}

export function elapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function nodeElapsed(n: WatchedNode, now: number): string {
  return n.reprovision_started ? elapsed(now - Date.parse(n.reprovision_started)) : '--:--';
}

/** ` 60%`: how far into its phase the installer said it is (a long image_download moves), else nothing. */
const inPhase = (n: WatchedNode): string =>
  n.phase_status === 'in_progress' && n.phase_progress !== null && n.phase_progress !== undefined
    ? ` ${n.phase_progress}%`
    : '';

/** One line for logs and pipes: no colours, no cursor movement. */
export function plainLine(n: WatchedNode, now: number, startedAt: number): string {
  const phase = `${n.deployment_status}${n.phase_status ? ` ${n.phase_status}` : ''}${inPhase(n)}`;
  return `[${elapsed(now - startedAt)}] ${name(n)}: ${phase} (${n.overall_progress}%), reprovision ${n.reprovision_status ?? '-'}, ${nodeElapsed(n, now)} since restart`;
}

export function progressBar(percent: number, width = 20): string {
  const filled = Math.round((Math.min(100, Math.max(0, percent)) / 100) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/** The block a terminal redraws in place: one row per node, then the clusters. */
export function ttyBlock(nodes: readonly WatchedNode[], clusters: readonly WatchedCluster[], now: number): string[] {
  const width = Math.max(4, ...nodes.map((n) => name(n).length));
  const rows = nodes.map((n) => {
    const percent =
      n.reprovision_status === 'clustered' || n.reprovision_status === 'completed' ? 100 : n.overall_progress;
    return `${name(n).padEnd(width)} ${progressBar(percent)} ${String(percent).padStart(3)}%  ${nodeElapsed(n, now)}  ${(n.reprovision_status ?? '-').padEnd(11)} ${n.deployment_status}${n.phase_status ? ` (${n.phase_status}${inPhase(n)})` : ''}`;
  });
  const ours = new Set(nodes.flatMap((n) => (n.cluster ? [n.cluster] : [])));
  const clusterRows = clusters
    .filter((c) => ours.has(c.name))
    .map((c) => `cluster ${c.name}: ${c.state}${c.last_error ? ` (${c.last_error})` : ''}`);
  return [...rows, ...clusterRows];
}
