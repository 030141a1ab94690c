/**
 * View models of the status page: what each row, chip and header shows.
 * Pure (no clock, no database): `now` and the data come in as arguments, so
 * the rules are tested with tables and the templates only print fields.
 */
import type { HistoryEntry } from '../store/history-repo.js';
import type { Node } from '../store/nodes-repo.js';
import { catalogueProgress, phaseIndex, type PhaseCatalogue } from '../nodes/phases.js';
import { formatTime } from '../util/time.js';
import type { ClusterRow } from '../store/clusters-repo.js';

/** What an admin scans for, in the order that needs attention. */
export const NODE_STATES = ['failed', 'installing', 'waiting', 'deployed'] as const;
export type NodeState = (typeof NODE_STATES)[number];

export const SORT_KEYS = [
  'hostname',
  'mac',
  'ip',
  'profile',
  'cluster',
  'phase',
  'reprovision',
  'updated',
  'in_phase',
] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export type SortDir = 'asc' | 'desc';

export interface ListQuery {
  status?: NodeState;
  phase?: string;
  cluster?: string;
  sort: SortKey;
  dir: SortDir;
  /** 1-based page of the sorted, filtered table (PAGE_SIZE rows each). */
  page: number;
}

export const DEFAULT_QUERY: ListQuery = { sort: 'phase', dir: 'asc', page: 1 };

/**
 * Rows of the node table per page: at fleet size the whole list would be
 * megabytes of HTML, re-fetched on every change while a page is open.
 */
export const PAGE_SIZE = 100;
/** The highest page number a URL may ask for (10,000,000 nodes). */
const MAX_PAGE = 100_000;

export function nodeState(
  node: Pick<Node, 'deploymentStatus' | 'deploymentPhaseStatus'>,
  catalogue: PhaseCatalogue,
): NodeState {
  if (node.deploymentPhaseStatus === 'failed' || catalogue.failure.includes(node.deploymentStatus)) return 'failed';
  const last = catalogue.ordered[catalogue.ordered.length - 1];
  if (node.deploymentStatus === last && node.deploymentPhaseStatus === 'completed') return 'deployed';
  if (node.deploymentStatus === catalogue.ordered[0]) return 'waiting';
  return 'installing';
}

// ---- time -----------------------------------------------------------------

/** "42s", "5m 3s", "3h 12m", "2d 4h": two units at most, enough to tell apart at a glance. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  const first = units.findIndex(([, size]) => seconds >= size);
  if (first < 0) return '0s';
  const [bigName, bigSize] = units[first]!;
  const big = Math.floor(seconds / bigSize);
  const next = units[first + 1];
  if (!next) return `${big}${bigName}`;
  const small = Math.floor((seconds % bigSize) / next[1]);
  return small ? `${big}${bigName} ${small}${next[0]}` : `${big}${bigName}`;
}

/** Relative to now; a time slightly ahead (clock skew between instances) reads as now. */
export function relativeTime(at: number, now: number): string {
  const ago = now - at;
  return ago < 5_000 ? 'just now' : `${formatDuration(ago)} ago`;
}

const iso = (ms: number) => new Date(ms).toISOString();

// ---- query string ---------------------------------------------------------

type RawQuery = Record<string, string | string[] | undefined>;

const single = (value: string | string[] | undefined): string | undefined =>
  typeof value === 'string' && value.length > 0 && value.length <= 64 ? value : undefined;
const oneOf = <T extends string>(values: readonly T[], value: string | undefined): T | undefined =>
  values.find((v) => v === value);

/**
 * Lenient on purpose: a bookmarked URL with a phase that no longer exists or
 * a misspelt sort shows the page with that part ignored, not an error.
 */
export function parseListQuery(raw: RawQuery, catalogue: PhaseCatalogue): ListQuery {
  const phase = single(raw.phase);
  return {
    status: oneOf(NODE_STATES, single(raw.status)),
    phase: phase && (catalogue.ordered.includes(phase) || catalogue.failure.includes(phase)) ? phase : undefined,
    cluster: single(raw.cluster),
    sort: oneOf(SORT_KEYS, single(raw.sort)) ?? DEFAULT_QUERY.sort,
    dir: oneOf(['asc', 'desc'] as const, single(raw.dir)) ?? DEFAULT_QUERY.dir,
    page: pageNumber(single(raw.page)),
  };
}

function pageNumber(raw: string | undefined): number {
  const page = raw && /^\d{1,6}$/.test(raw) ? Number(raw) : 1;
  return Math.min(Math.max(page, 1), MAX_PAGE);
}

/** `?status=failed&sort=ip`: only what differs from the defaults, in a stable order. */
export function listHref(query: ListQuery): string {
  const params = new URLSearchParams();
  if (query.status) params.set('status', query.status);
  if (query.phase) params.set('phase', query.phase);
  if (query.cluster) params.set('cluster', query.cluster);
  if (query.sort !== DEFAULT_QUERY.sort || query.dir !== DEFAULT_QUERY.dir) {
    params.set('sort', query.sort);
    params.set('dir', query.dir);
  }
  if (query.page > 1) params.set('page', String(query.page));
  const text = params.toString();
  return text ? `/monitoring?${text}` : '/monitoring';
}

// ---- paging ---------------------------------------------------------------

export interface PageView<T> {
  items: T[];
  /** "101–200 of 10,000"; null when everything fits on one page. */
  range: string | null;
  prevHref: string | null;
  nextHref: string | null;
}

/** One page of the sorted rows; a page past the end shows the last one. */
export function pageOf<T>(rows: readonly T[], query: ListQuery): PageView<T> {
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  const page = Math.min(query.page, pages);
  const start = (page - 1) * PAGE_SIZE;
  const items = rows.slice(start, start + PAGE_SIZE);
  const count = (n: number) => n.toLocaleString('en-US');
  return {
    items,
    range: pages > 1 ? `${count(start + 1)}–${count(start + items.length)} of ${count(rows.length)}` : null,
    prevHref: page > 1 ? listHref({ ...query, page: page - 1 }) : null,
    nextHref: page < pages ? listHref({ ...query, page: page + 1 }) : null,
  };
}

// ---- filtering and sorting ------------------------------------------------

export function filterNodes(nodes: readonly Node[], query: ListQuery, catalogue: PhaseCatalogue): Node[] {
  return nodes.filter(
    (n) =>
      (!query.status || nodeState(n, catalogue) === query.status) &&
      (!query.phase || n.deploymentStatus === query.phase) &&
      (!query.cluster || n.cluster === query.cluster),
  );
}

type SortValue = string | number | null;

/** The value a column sorts by; phase sorts by attention (state), then by how far the install got. */
function sortValues(node: Node, key: SortKey, catalogue: PhaseCatalogue, now: number): SortValue[] {
  switch (key) {
    case 'phase':
      return [
        NODE_STATES.indexOf(nodeState(node, catalogue)),
        -catalogueProgress(catalogue, node.deploymentStatus, node.deploymentPhaseStatus, node.progress),
      ];
    case 'updated':
      return [node.lastUpdate];
    case 'in_phase':
      return [node.phaseStartedAt === null ? null : now - node.phaseStartedAt];
    case 'ip':
      return [ipSortKey(node.ip)];
    case 'reprovision':
      return [node.reprovisionStatus];
    default:
      return [node[key]];
  }
}

/** IPv4 sorts numerically (10.0.0.9 before 10.0.0.10); anything else as text after it. */
export function ipSortKey(ip: string | null): string | null {
  if (ip === null) return null;
  const parts = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  return parts
    ? '4:' +
        parts
          .slice(1)
          .map((p) => p.padStart(3, '0'))
          .join('.')
    : '6:' + ip.toLowerCase();
}

/** Empty values sort last in either direction: a missing IP is never the interesting end. */
function compareValues(a: SortValue, b: SortValue): number {
  if (a === b) return 0;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), 'en', { numeric: true });
}

export function sortNodes(
  nodes: readonly Node[],
  query: Pick<ListQuery, 'sort' | 'dir'>,
  catalogue: PhaseCatalogue,
  now: number,
): Node[] {
  const sign = query.dir === 'asc' ? 1 : -1;
  const keyed = nodes.map((node) => ({ node, values: sortValues(node, query.sort, catalogue, now) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < a.values.length; i++) {
      const [x, y] = [a.values[i] ?? null, b.values[i] ?? null];
      if (x === null || y === null) {
        if (x !== y) return x === null ? 1 : -1;
        continue;
      }
      const order = compareValues(x, y);
      if (order !== 0) return sign * order;
    }
    // Ties keep a stable, readable order whatever the direction.
    return compareValues(a.node.hostname ?? a.node.mac, b.node.hostname ?? b.node.mac) || a.node.id - b.node.id;
  });
  return keyed.map((k) => k.node);
}

export interface SortHeader {
  key: SortKey;
  label: string;
  href: string;
  /** aria-sort value for the current column, else undefined. */
  ariaSort?: 'ascending' | 'descending';
  arrow: string;
}

const COLUMN_LABELS: Record<SortKey, string> = {
  hostname: 'Host',
  mac: 'MAC',
  ip: 'IP',
  profile: 'Profile',
  cluster: 'Cluster',
  phase: 'Phase',
  reprovision: 'Reprovision',
  updated: 'Updated',
  in_phase: 'In phase',
};

/** Header links: a click sorts by that column, a second click reverses it; filters are kept. */
export function sortHeaders(query: ListQuery): SortHeader[] {
  return SORT_KEYS.map((key) => {
    const current = query.sort === key;
    const dir: SortDir = current && query.dir === 'asc' ? 'desc' : 'asc';
    return {
      key,
      label: COLUMN_LABELS[key],
      href: listHref({ ...query, sort: key, dir, page: 1 }),
      ariaSort: current ? (query.dir === 'asc' ? 'ascending' : 'descending') : undefined,
      arrow: current ? (query.dir === 'asc' ? '▲' : '▼') : '',
    };
  });
}

// ---- rows -----------------------------------------------------------------

export interface NodeRowView {
  id: number;
  href: string;
  hostname: string | null;
  mac: string;
  ip: string | null;
  profile: string | null;
  cluster: string | null;
  phase: string;
  phaseStatus: string | null;
  state: NodeState;
  /** 0..100 through the phase catalogue. */
  progress: number;
  /** "9 of 15". */
  step: string;
  reprovision: string | null;
  updatedAgo: string;
  updatedIso: string;
  inPhase: string | null;
  /** Why a failed or stalled node stopped (its last message), shown under its phase. */
  reason: string | null;
}

/** Nodes whose last message the list shows: an admin scanning for trouble needs the reason without opening each node. */
export function needsReason(
  node: Pick<Node, 'deploymentStatus' | 'deploymentPhaseStatus' | 'reprovisionStatus'>,
  catalogue: PhaseCatalogue,
): boolean {
  return (
    nodeState(node, catalogue) === 'failed' ||
    node.reprovisionStatus === 'timeout' ||
    node.reprovisionStatus === 'error'
  );
}

export function nodeRow(node: Node, catalogue: PhaseCatalogue, now: number, reason: string | null = null): NodeRowView {
  const index = phaseIndex(catalogue, node.deploymentStatus);
  return {
    id: node.id,
    href: `/monitoring/nodes/${node.id}`,
    hostname: node.hostname,
    mac: node.mac,
    ip: node.ip,
    profile: node.profile,
    cluster: node.cluster,
    phase: node.deploymentStatus,
    phaseStatus: node.deploymentPhaseStatus,
    state: nodeState(node, catalogue),
    progress: catalogueProgress(catalogue, node.deploymentStatus, node.deploymentPhaseStatus, node.progress),
    step: index < 0 ? node.deploymentStatus : `${index + 1} of ${catalogue.ordered.length}`,
    reprovision: node.reprovisionStatus,
    updatedAgo: relativeTime(node.lastUpdate, now),
    updatedIso: iso(node.lastUpdate),
    inPhase: node.phaseStartedAt === null ? null : formatDuration(now - node.phaseStartedAt),
    reason,
  };
}

// ---- summary bar ----------------------------------------------------------

export interface SummaryChip {
  label: string;
  count: number;
  state: NodeState;
  href: string;
  active: boolean;
}

export interface SummaryView {
  total: number;
  states: SummaryChip[];
  phases: SummaryChip[];
}

/**
 * Counts over all nodes (not the filtered ones: the bar is the overview):
 * one chip per state, failures first, then one per phase and status, failures
 * first and then in catalogue order. Each chip links to the filter it counts.
 */
export function buildSummary(nodes: readonly Node[], catalogue: PhaseCatalogue, query: ListQuery): SummaryView {
  const states = NODE_STATES.map((state) => ({
    label: state,
    count: nodes.filter((n) => nodeState(n, catalogue) === state).length,
    state,
    href: listHref({ ...query, status: query.status === state ? undefined : state, phase: undefined, page: 1 }),
    active: query.status === state,
  }));
  const groups = new Map<string, { phase: string; status: string | null; state: NodeState; count: number }>();
  for (const node of nodes) {
    const key = `${node.deploymentStatus}\u0000${node.deploymentPhaseStatus ?? ''}`;
    const group = groups.get(key) ?? {
      phase: node.deploymentStatus,
      status: node.deploymentPhaseStatus,
      state: nodeState(node, catalogue),
      count: 0,
    };
    group.count++;
    groups.set(key, group);
  }
  const order = (phase: string) => {
    const index = phaseIndex(catalogue, phase);
    return index < 0 ? catalogue.ordered.length + catalogue.failure.indexOf(phase) : index;
  };
  const phases = [...groups.values()]
    .sort(
      (a, b) =>
        failedFirst(a.state) - failedFirst(b.state) ||
        order(a.phase) - order(b.phase) ||
        String(a.status).localeCompare(String(b.status)),
    )
    .map((g) => ({
      label: phaseLabel(g.phase, g.status),
      count: g.count,
      state: g.state,
      href: listHref({ ...query, phase: query.phase === g.phase ? undefined : g.phase, status: undefined, page: 1 }),
      active: query.phase === g.phase,
    }));
  return { total: nodes.length, states, phases };
}

/** `installation · failed`; a phase whose name already says its status (`failed`, `cleanup_completed`) is not repeated. */
export function phaseLabel(phase: string, status: string | null): string {
  return status && phase !== status && !phase.endsWith(`_${status}`) ? `${phase} · ${status}` : phase;
}

const failedFirst = (state: NodeState) => (state === 'failed' ? 0 : 1);

// ---- clusters -------------------------------------------------------------

export interface ClusterView {
  name: string;
  state: string;
  /** Colour of the state: the three a status page needs, plus neutral. */
  tone: 'ok' | 'failed' | 'busy' | 'neutral';
  driver: string | null;
  lastError: string | null;
  nodes: string;
  href: string;
  updatedAgo: string | null;
}

/** What the page shows of a clusters row. */
export type ClusterShown = Pick<ClusterRow, 'name' | 'driver' | 'expectedNodes' | 'lastError' | 'updatedAt'> & {
  state: string;
};

const CLUSTER_TONES: Record<string, ClusterView['tone']> = { formed: 'ok', error: 'failed', forming: 'busy' };

/**
 * Clusters from the `clusters` table, plus cluster names that only appear on
 * nodes (the watcher has not recorded them yet), so every node's cluster is listed.
 */
export function buildClusters(
  clusters: readonly ClusterShown[],
  nodes: readonly Node[],
  catalogue: PhaseCatalogue,
  now: number,
): ClusterView[] {
  const recorded = new Map(clusters.map((c) => [c.name, c]));
  const names = new Set([...recorded.keys(), ...nodes.flatMap((n) => (n.cluster ? [n.cluster] : []))]);
  return [...names].sort().map((name) => {
    const row = recorded.get(name);
    const members = nodes.filter((n) => n.cluster === name);
    const deployed = members.filter((n) => nodeState(n, catalogue) === 'deployed').length;
    const expected = row?.expectedNodes ?? members.length;
    return {
      name,
      state: row?.state ?? 'not recorded',
      tone: CLUSTER_TONES[row?.state ?? ''] ?? 'neutral',
      driver: row?.driver ?? null,
      lastError: row?.lastError ?? null,
      nodes: `${deployed} of ${expected} deployed`,
      href: listHref({ ...DEFAULT_QUERY, cluster: name }),
      updatedAgo: row ? relativeTime(row.updatedAt, now) : null,
    };
  });
}

// ---- node page ------------------------------------------------------------

export interface TimelineEntryView {
  id: number;
  at: string;
  atIso: string;
  ago: string;
  phase: string;
  status: string;
  message: string | null;
  source: string;
  sourceIp: string | null;
  progress: number | null;
  /** Why a recorded entry did not move the node (late, duplicate or an event), else null. */
  recordedOnly: boolean;
  /** Time since the entry before it (the previous one in time). */
  after: string | null;
}

/** Entries in the order given; `after` compares each with its neighbour in time, whatever the order. */
export function buildTimeline(entries: readonly HistoryEntry[], now: number): TimelineEntryView[] {
  const chronological = [...entries].sort((a, b) => a.at - b.at || a.id - b.id);
  const previousAt = new Map(chronological.map((e, i) => [e.id, i > 0 ? chronological[i - 1]!.at : null]));
  return entries.map((e) => {
    const prev = previousAt.get(e.id) ?? null;
    return {
      id: e.id,
      at: formatTime(e.at),
      atIso: iso(e.at),
      ago: relativeTime(e.at, now),
      phase: e.phase,
      status: e.status,
      message: e.message,
      source: e.source,
      sourceIp: e.sourceIp,
      progress: e.progress,
      recordedOnly: !e.applied,
      after: prev === null ? null : `+${formatDuration(e.at - prev)}`,
    };
  });
}

export interface NodeDetailView {
  row: NodeRowView;
  fields: { label: string; value: string | null }[];
}

export function nodeDetail(node: Node, catalogue: PhaseCatalogue, now: number): NodeDetailView {
  const labels = Object.entries(node.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return {
    row: nodeRow(node, catalogue, now),
    fields: [
      { label: 'MAC', value: node.mac },
      { label: 'IP', value: node.ip },
      { label: 'UUID', value: node.uuid },
      { label: 'Arch', value: node.arch },
      { label: 'Type', value: node.type },
      { label: 'Profile', value: node.profile },
      { label: 'Cluster', value: node.cluster },
      { label: 'Labels', value: labels || null },
      { label: 'Node status', value: node.status },
      { label: 'Reprovision', value: node.reprovisionStatus },
      { label: 'Netboot', value: node.netbootEnabled ? 'on' : 'off (boots its disk)' },
      { label: 'Registered', value: `${iso(node.registeredAt)} (${relativeTime(node.registeredAt, now)})` },
      { label: 'Last update', value: `${iso(node.lastUpdate)} (${relativeTime(node.lastUpdate, now)})` },
    ],
  };
}

// ---- filter form ----------------------------------------------------------

export interface FilterFormView {
  statuses: { value: NodeState; selected: boolean }[];
  clusters: { value: string; selected: boolean }[];
  phase?: string;
  /** Kept across a filter change when not the default. */
  sort?: SortKey;
  dir?: SortDir;
  active: boolean;
}

export function isFiltered(query: ListQuery): boolean {
  return Boolean(query.status || query.phase || query.cluster);
}

export function filterForm(query: ListQuery, clusters: readonly string[]): FilterFormView {
  const customSort = query.sort !== DEFAULT_QUERY.sort || query.dir !== DEFAULT_QUERY.dir;
  // A cluster in the URL that no node or record has any more still shows as selected.
  const names = query.cluster && !clusters.includes(query.cluster) ? [...clusters, query.cluster] : clusters;
  return {
    statuses: NODE_STATES.map((value) => ({ value, selected: query.status === value })),
    clusters: names.map((value) => ({ value, selected: query.cluster === value })),
    phase: query.phase,
    sort: customSort ? query.sort : undefined,
    dir: customSort ? query.dir : undefined,
    active: isFiltered(query),
  };
}

/** The URL live updates fetch: the same view, only the part that changes. */
export function fragmentHref(href: string): string {
  return href + (href.includes('?') ? '&' : '?') + 'fragment=1';
}
