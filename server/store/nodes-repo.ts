import type { Knex } from 'knex';
import { isSqliteKnex, withSqliteConnection, type SqliteConnection, type SqliteStatement } from './db.js';
import type { PhaseStatus, ReprovisionStatus } from '../kernel/statuses.js';
import { nullableNumber, nullableString } from './rows.js';

export interface Node {
  id: number;
  mac: string;
  hostname: string | null;
  ip: string | null;
  uuid: string | null;
  arch: string | null;
  type: string | null;
  profile: string | null;
  cluster: string | null;
  labels: Record<string, string>;
  status: string;
  deploymentStatus: string;
  deploymentPhaseStatus: PhaseStatus | null;
  progress: number | null;
  reprovisionStatus: ReprovisionStatus | null;
  netbootEnabled: boolean;
  registeredAt: number;
  lastUpdate: number;
  phaseStartedAt: number | null;
  reprovisionStarted: number | null;
  reprovisionTimeoutMin: number | null;
  /** The install round (server/auth/rounds.ts); the nonce never leaves the server. */
  roundNonce: string | null;
  roundOpenedAt: number | null;
  roundClosesAt: number | null;
  roundBoundIp: string | null;
  /** The address homeport saw the node's bound calls come from (kept across rounds). */
  observedIp: string | null;
  /** The address the installer said it has: shown, never connected to. */
  reportedIp: string | null;
}

/** A node named by id, MAC or hostname (server/nodes/ref.ts parses one from what people type). */
export type NodeKey =
  { kind: 'id'; id: number } | { kind: 'mac'; mac: string } | { kind: 'hostname'; hostname: string };

type NodeRow = Record<string, unknown>;

export function rowToNode(row: NodeRow): Node {
  return {
    id: Number(row.id),
    mac: String(row.mac),
    hostname: nullableString(row.hostname),
    ip: nullableString(row.ip),
    uuid: nullableString(row.uuid),
    arch: nullableString(row.arch),
    type: nullableString(row.type),
    profile: nullableString(row.profile),
    cluster: nullableString(row.cluster),
    labels: parseLabels(row.labels),
    status: String(row.status),
    deploymentStatus: String(row.deployment_status),
    deploymentPhaseStatus: (row.deployment_phase_status as PhaseStatus | null) ?? null,
    progress: nullableNumber(row.progress),
    reprovisionStatus: (row.reprovision_status as ReprovisionStatus | null) ?? null,
    // SQLite stores booleans as 0/1.
    netbootEnabled: row.netboot_enabled === true || row.netboot_enabled === 1,
    registeredAt: Number(row.registered_at),
    lastUpdate: Number(row.last_update),
    phaseStartedAt: nullableNumber(row.phase_started_at),
    reprovisionStarted: nullableNumber(row.reprovision_started),
    reprovisionTimeoutMin: nullableNumber(row.reprovision_timeout_min),
    roundNonce: nullableString(row.round_nonce),
    roundOpenedAt: nullableNumber(row.round_opened_at),
    roundClosesAt: nullableNumber(row.round_closes_at),
    roundBoundIp: nullableString(row.round_bound_ip),
    observedIp: nullableString(row.observed_ip),
    reportedIp: nullableString(row.reported_ip),
  };
}

function parseLabels(value: unknown): Record<string, string> {
  if (typeof value !== 'string') return {};
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** The fields of a node its partial updates may set (labels are JSON, written apart). */
type ColumnField = Exclude<keyof Node, 'id' | 'mac' | 'registeredAt' | 'labels'>;

/** Field name -> column name: the one list partial updates and the phase store's UPDATE are built from. */
export const NODE_COLUMNS: Record<ColumnField, string> = {
  hostname: 'hostname',
  ip: 'ip',
  uuid: 'uuid',
  arch: 'arch',
  type: 'type',
  profile: 'profile',
  cluster: 'cluster',
  status: 'status',
  deploymentStatus: 'deployment_status',
  deploymentPhaseStatus: 'deployment_phase_status',
  progress: 'progress',
  reprovisionStatus: 'reprovision_status',
  netbootEnabled: 'netboot_enabled',
  lastUpdate: 'last_update',
  phaseStartedAt: 'phase_started_at',
  reprovisionStarted: 'reprovision_started',
  reprovisionTimeoutMin: 'reprovision_timeout_min',
  roundNonce: 'round_nonce',
  roundOpenedAt: 'round_opened_at',
  roundClosesAt: 'round_closes_at',
  roundBoundIp: 'round_bound_ip',
  observedIp: 'observed_ip',
  reportedIp: 'reported_ip',
};

/** The node fields a phase report may change, all of them, so one UPDATE fits every report (store/phase-store.ts). */
export const PHASE_FIELDS = [
  'deploymentStatus',
  'deploymentPhaseStatus',
  'progress',
  'lastUpdate',
  'phaseStartedAt',
  'netbootEnabled',
  'reprovisionStatus',
  'roundClosesAt',
  'roundBoundIp',
  'observedIp',
] as const satisfies readonly ColumnField[];

export type PhaseFields = Pick<Node, (typeof PHASE_FIELDS)[number]>;

/** A node's phase fields as they are now. */
export function phaseFieldsOf(node: Node): PhaseFields {
  return Object.fromEntries(PHASE_FIELDS.map((field) => [field, node[field]])) as PhaseFields;
}

export type NodeChanges = Partial<Pick<Node, ColumnField>> & {
  labels?: Record<string, string>;
};

export function changesToRow(changes: NodeChanges): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(changes)) {
    if (value === undefined) continue;
    if (field === 'labels') row.labels = JSON.stringify(value);
    else if (Object.hasOwn(NODE_COLUMNS, field)) row[NODE_COLUMNS[field as ColumnField]] = value;
  }
  return row;
}

export interface NodeFilter {
  cluster?: string;
  profile?: string;
  deploymentStatus?: string;
  reprovisionStatus?: string;
  status?: string;
  limit?: number;
  offset?: number;
}

/** A node count by phase and status, for the node gauges. */
export interface NodeCount {
  phase: string;
  status: string | null;
  count: number;
}

export interface NodeCounts {
  byPhase: NodeCount[];
  byReprovisionStatus: { status: string | null; count: number }[];
}

export class NodesRepo {
  private readonly isSqlite: boolean;
  private byMacStatement: { conn: SqliteConnection; statement: SqliteStatement } | null = null;

  constructor(private readonly knex: Knex) {
    this.isSqlite = isSqliteKnex(knex);
  }

  async byId(id: number, trx: Knex = this.knex): Promise<Node | null> {
    const row = await trx('nodes').where({ id }).first();
    return row ? rowToNode(row) : null;
  }

  async byMac(mac: string, trx: Knex = this.knex): Promise<Node | null> {
    // Outside a transaction on SQLite: one prepared statement instead of knex's query building, on the
    // boot path's hottest read (every script and config of a node the cache does not hold; knex was 0.1 ms of it).
    if (trx === this.knex && this.isSqlite)
      return withSqliteConnection(this.knex, (conn) => this.sqliteByMac(conn, mac));
    const row = await trx('nodes').where({ mac }).first();
    return row ? rowToNode(row) : null;
  }

  private sqliteByMac(conn: SqliteConnection, mac: string): Node | null {
    if (this.byMacStatement?.conn !== conn)
      this.byMacStatement = { conn, statement: conn.prepare('SELECT * FROM nodes WHERE mac = ?') };
    const row = this.byMacStatement.statement.get(mac) as NodeRow | undefined;
    return row ? rowToNode(row) : null;
  }

  /** By id, MAC or hostname (hostnames are stored lower case). */
  byRef(ref: NodeKey): Promise<Node | null> {
    if (ref.kind === 'id') return this.byId(ref.id);
    if (ref.kind === 'mac') return this.byMac(ref.mac);
    return this.byHostname(ref.hostname);
  }

  /** Every node with this hostname (not unique), oldest first, at most `limit`. */
  async allByHostname(hostname: string, limit: number): Promise<Node[]> {
    const rows = (await this.knex('nodes').where({ hostname }).orderBy('id').limit(limit)) as Record<string, unknown>[];
    return rows.map(rowToNode);
  }

  async byHostname(hostname: string): Promise<Node | null> {
    const row = await this.knex('nodes').where({ hostname }).orderBy('id').first();
    return row ? rowToNode(row) : null;
  }

  /** The most recently updated node with this IP, set by an admin or seen by homeport (DHCP may have moved an address). */
  async byIp(ip: string, trx: Knex = this.knex): Promise<Node | null> {
    const row = await trx('nodes').where({ ip }).orWhere({ observed_ip: ip }).orderBy('last_update', 'desc').first();
    return row ? rowToNode(row) : null;
  }

  async list(filter: NodeFilter = {}): Promise<Node[]> {
    const query = this.knex('nodes').orderBy('id');
    if (filter.cluster) query.where('cluster', filter.cluster);
    if (filter.profile) query.where('profile', filter.profile);
    if (filter.deploymentStatus) query.where('deployment_status', filter.deploymentStatus);
    if (filter.reprovisionStatus) query.where('reprovision_status', filter.reprovisionStatus);
    if (filter.status) query.where('status', filter.status);
    if (filter.limit) query.limit(filter.limit);
    if (filter.offset) query.offset(filter.offset);
    return (await query).map(rowToNode);
  }

  async insert(mac: string, fields: NodeChanges, now: number, trx: Knex = this.knex): Promise<Node> {
    const row = { ...changesToRow(fields), mac, registered_at: now, last_update: now };
    const [inserted] = await trx('nodes').insert(row).returning('*');
    return rowToNode(inserted as NodeRow);
  }

  async update(id: number, changes: NodeChanges, trx: Knex = this.knex): Promise<Node | null> {
    const row = changesToRow(changes);
    if (Object.keys(row).length === 0) return this.byId(id, trx);
    const [updated] = await trx('nodes').where({ id }).update(row).returning('*');
    return updated ? rowToNode(updated as NodeRow) : null;
  }

  /** Each node's changes, in one transaction (a group commit); null for a node that is gone. */
  updateEach(updates: ({ id: number } & NodeChanges)[]): Promise<(Node | null)[]> {
    return this.knex.transaction(async (trx) => {
      const saved: (Node | null)[] = [];
      for (const { id, ...changes } of updates) saved.push(await this.update(id, changes, trx));
      return saved;
    });
  }

  /** Compare-and-set on the install round: applies only while the node's round nonce and bound address are as read. */
  async updateIfRoundUnchanged(
    node: Pick<Node, 'id' | 'roundNonce' | 'roundBoundIp'>,
    changes: NodeChanges,
    trx: Knex = this.knex,
  ): Promise<boolean> {
    const updated = await trx('nodes')
      .where({ id: node.id, round_nonce: node.roundNonce, round_bound_ip: node.roundBoundIp })
      .update(changesToRow(changes));
    return updated > 0;
  }

  /** Several rounds' compare-and-sets in one transaction (a group commit): whether each applied. */
  updateEachIfRoundUnchanged(
    binds: { node: Pick<Node, 'id' | 'roundNonce' | 'roundBoundIp'>; changes: NodeChanges }[],
  ): Promise<boolean[]> {
    return this.knex.transaction(async (trx) => {
      const applied: boolean[] = [];
      for (const { node, changes } of binds) applied.push(await this.updateIfRoundUnchanged(node, changes, trx));
      return applied;
    });
  }

  /** Compare-and-set on the reprovision status: with `expect`, applies only while the node's status is one of those. */
  async updateIfStatus(
    id: number,
    expect: readonly (ReprovisionStatus | null)[] | undefined,
    changes: NodeChanges,
    trx: Knex = this.knex,
  ): Promise<Node | null> {
    const query = trx('nodes').where({ id });
    if (expect) query.where((w) => whereStatusIn(w, expect));
    const [row] = (await query.update(changesToRow(changes)).returning('*')) as NodeRow[];
    return row ? rowToNode(row) : null;
  }

  async delete(id: number): Promise<boolean> {
    return (await this.knex('nodes').where({ id }).delete()) > 0;
  }

  /** The nodes an admin gave a profile, with it (the doctor checks each profile exists). */
  async profiles(): Promise<{ mac: string; hostname: string | null; profile: string }[]> {
    const rows = (await this.knex('nodes').whereNotNull('profile').select('mac', 'hostname', 'profile')) as {
      mac: string;
      hostname: string | null;
      profile: string;
    }[];
    return rows.map((r) => ({ mac: r.mac, hostname: r.hostname, profile: r.profile }));
  }

  /** Nodes per phase and status, and per reprovision status (one scrape of the node gauges). */
  async counts(): Promise<NodeCounts> {
    const [byPhase, byReprovision] = await Promise.all([
      this.knex('nodes')
        .select('deployment_status', 'deployment_phase_status')
        .count({ n: '*' })
        .groupBy('deployment_status', 'deployment_phase_status') as Promise<Record<string, unknown>[]>,
      this.knex('nodes').select('reprovision_status').count({ n: '*' }).groupBy('reprovision_status') as Promise<
        Record<string, unknown>[]
      >,
    ]);
    return {
      byPhase: byPhase.map((r) => ({
        phase: String(r.deployment_status),
        status: nullableString(r.deployment_phase_status),
        count: Number(r.n),
      })),
      byReprovisionStatus: byReprovision.map((r) => ({
        status: nullableString(r.reprovision_status),
        count: Number(r.n),
      })),
    };
  }
}

function whereStatusIn(query: Knex.QueryBuilder, statuses: readonly (ReprovisionStatus | null)[]): void {
  const values = statuses.filter((s): s is ReprovisionStatus => s !== null);
  if (values.length) query.whereIn('reprovision_status', values);
  if (statuses.includes(null)) query.orWhereNull('reprovision_status');
}
