import type { Knex } from 'knex';
import { nullableNumber, nullableString } from './rows.js';

export interface HistoryEntry {
  id: number;
  nodeId: number;
  phase: string;
  status: string;
  message: string | null;
  progress: number | null;
  source: string;
  sourceIp: string | null;
  applied: boolean;
  at: number;
}

export type NewHistoryEntry = Omit<HistoryEntry, 'id'>;

export function rowToHistoryEntry(row: Record<string, unknown>): HistoryEntry {
  return {
    id: Number(row.id),
    nodeId: Number(row.node_id),
    phase: String(row.phase),
    status: String(row.status),
    message: nullableString(row.message),
    progress: nullableNumber(row.progress),
    source: String(row.source),
    sourceIp: nullableString(row.source_ip),
    applied: row.applied === true || row.applied === 1,
    at: Number(row.at),
  };
}

/** Field name -> column name of deployment_history: the one list its inserts (knex and raw SQL) are built from. */
const HISTORY_COLUMNS: Record<keyof NewHistoryEntry, string> = {
  nodeId: 'node_id',
  phase: 'phase',
  status: 'status',
  message: 'message',
  progress: 'progress',
  source: 'source',
  sourceIp: 'source_ip',
  applied: 'applied',
  at: 'at',
};
const HISTORY_FIELDS = Object.keys(HISTORY_COLUMNS) as (keyof NewHistoryEntry)[];

/** `INSERT INTO deployment_history (...) VALUES (?, ...) RETURNING *`, its values in historyValues' order. */
export const INSERT_HISTORY_SQL = `INSERT INTO deployment_history (${HISTORY_FIELDS.map((f) => HISTORY_COLUMNS[f]).join(
  ', ',
)}) VALUES (${HISTORY_FIELDS.map(() => '?').join(', ')}) RETURNING *`;

export function historyValues(entry: NewHistoryEntry): NewHistoryEntry[keyof NewHistoryEntry][] {
  return HISTORY_FIELDS.map((f) => entry[f]);
}

function entryToRow(entry: NewHistoryEntry): Record<string, unknown> {
  return Object.fromEntries(HISTORY_FIELDS.map((f) => [HISTORY_COLUMNS[f], entry[f]]));
}

export interface HistoryPage {
  entries: HistoryEntry[];
  total: number;
}

export interface HistoryPageOptions {
  order: 'asc' | 'desc';
  limit: number;
  offset: number;
}

export class HistoryRepo {
  constructor(private readonly knex: Knex) {}

  async append(entry: NewHistoryEntry, trx: Knex = this.knex): Promise<HistoryEntry> {
    const [row] = await trx('deployment_history').insert(entryToRow(entry)).returning('*');
    return rowToHistoryEntry(row as Record<string, unknown>);
  }

  async page(nodeId: number, options: HistoryPageOptions): Promise<HistoryPage> {
    const rows = await this.knex('deployment_history')
      .where({ node_id: nodeId })
      .orderBy('id', options.order)
      .limit(options.limit)
      .offset(options.offset);
    const [{ count }] = (await this.knex('deployment_history').where({ node_id: nodeId }).count({ count: '*' })) as [
      { count: number | string },
    ];
    return { entries: rows.map(rowToHistoryEntry), total: Number(count) };
  }

  /**
   * The last message in each node's history (the failure reason of a failed node,
   * the last word of a stalled one), for the few nodes the status page shows it for.
   */
  async lastMessages(nodeIds: readonly number[]): Promise<Map<number, string>> {
    if (nodeIds.length === 0) return new Map();
    const latest = this.knex('deployment_history')
      .whereIn('node_id', nodeIds)
      .whereNotNull('message')
      .max('id')
      .groupBy('node_id');
    const rows = (await this.knex('deployment_history').whereIn('id', latest).select('node_id', 'message')) as Record<
      string,
      unknown
    >[];
    return new Map(rows.map((r) => [Number(r.node_id), String(r.message)]));
  }

  async count(): Promise<number> {
    const [{ count }] = (await this.knex('deployment_history').count({ count: '*' })) as [{ count: number | string }];
    return Number(count);
  }
}
