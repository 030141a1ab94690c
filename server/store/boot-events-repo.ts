import type { Knex } from 'knex';
import { nullableNumber } from './rows.js';

/** One boot event as stored; `detail` is the writer's bounded JSON object. */
export interface StoredBootEvent {
  id: number;
  nodeId: number | null;
  mac: string;
  at: number;
  source: string;
  kind: string;
  outcome: string;
  detail: Record<string, unknown>;
}

export type NewBootEvent = Omit<StoredBootEvent, 'id' | 'nodeId'>;

/** How many rows are kept: per MAC, by age, and how many unknown MACs (the seen list). */
export interface BootEventRetention {
  maxPerMac: number;
  /** Rows older than this (ms since epoch) are deleted. */
  olderThan: number;
  seenLimit: number;
}

/** An unknown MAC of the seen list: when it was last seen, and its latest event. */
export interface SeenMac {
  mac: string;
  lastAt: number;
  events: number;
  last: StoredBootEvent;
}

function rowToBootEvent(row: Record<string, unknown>): StoredBootEvent {
  return {
    id: Number(row.id),
    nodeId: nullableNumber(row.node_id),
    mac: String(row.mac),
    at: Number(row.at),
    source: String(row.source),
    kind: String(row.kind),
    outcome: String(row.outcome),
    detail: parseDetail(row.detail),
  };
}

function parseDetail(value: unknown): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(String(value));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Unknown MACs: events with no node row, from MACs that are not (or no longer) a node. */
function unknownMacs(knex: Knex) {
  return (
    knex('boot_events')
      .whereNull('node_id')
      .whereNotIn('mac', knex('nodes').select('mac'))
      .groupBy('mac')
      .select('mac')
      .max({ last_at: 'at' })
      .max({ last_id: 'id' })
      .count({ events: '*' })
      // Within one millisecond, the row written last is the most recent.
      .orderBy([
        { column: 'last_at', order: 'desc' },
        { column: 'last_id', order: 'desc' },
      ])
  );
}

/**
 * boot_events: written in batches (server/timeline/service.ts's group
 * commit), each batch trimming what it grew: the MACs it wrote to their last
 * `maxPerMac` rows, every row past the age limit, and the unknown MACs past
 * the seen list's length (oldest first). So the table stays bounded however
 * many MACs a stranger on the boot network invents.
 */
export class BootEventsRepo {
  constructor(private readonly knex: Knex) {}

  async insertBatch(events: NewBootEvent[], retention: BootEventRetention): Promise<void> {
    if (events.length === 0) return;
    await this.knex.transaction(async (trx) => {
      for (const event of events) {
        await trx('boot_events').insert({
          node_id: trx('nodes').select('id').where({ mac: event.mac }).first(),
          mac: event.mac,
          at: event.at,
          source: event.source,
          kind: event.kind,
          outcome: event.outcome,
          detail: JSON.stringify(event.detail),
        });
      }
      const macs = [...new Set(events.map((e) => e.mac))];
      for (const mac of macs) await trimMac(trx, mac, retention.maxPerMac);
      await trx('boot_events').where('at', '<', retention.olderThan).delete();
      // The seen list's GROUP BY runs only when this batch may have grown it.
      const known = (await trx('nodes').whereIn('mac', macs).select('mac')) as unknown[];
      if (known.length < macs.length) await evictUnknown(trx, retention.seenLimit);
    });
  }

  /** The last `limit` events of a MAC, oldest first. */
  async forMac(mac: string, limit: number): Promise<StoredBootEvent[]> {
    const rows = (await this.knex('boot_events').where({ mac }).orderBy('id', 'desc').limit(limit)) as Record<
      string,
      unknown
    >[];
    return rows.map(rowToBootEvent).reverse();
  }

  /** The seen list: unknown MACs, most recently seen first, each with its latest event. */
  async seen(limit: number): Promise<SeenMac[]> {
    const groups = (await unknownMacs(this.knex).limit(limit)) as { mac: string; last_at: unknown; events: unknown }[];
    const seen: SeenMac[] = [];
    for (const group of groups) {
      const last = (await this.knex('boot_events').where({ mac: group.mac }).orderBy('id', 'desc').first()) as
        Record<string, unknown> | undefined;
      if (last)
        seen.push({
          mac: group.mac,
          lastAt: Number(group.last_at),
          events: Number(group.events),
          last: rowToBootEvent(last),
        });
    }
    return seen;
  }
}

async function trimMac(trx: Knex.Transaction, mac: string, keep: number): Promise<void> {
  const newest = trx('boot_events').select('id').where({ mac }).orderBy('id', 'desc').limit(keep);
  // A sub-select with LIMIT inside NOT IN needs a derived table on some engines; both accept this form.
  await trx('boot_events')
    .where({ mac })
    .whereNotIn('id', trx.select('id').from(newest.as('newest')))
    .delete();
}

async function evictUnknown(trx: Knex.Transaction, seenLimit: number): Promise<void> {
  const evicted = (await unknownMacs(trx).offset(seenLimit)) as { mac: string }[];
  if (evicted.length === 0) return;
  await trx('boot_events')
    .whereNull('node_id')
    .whereIn(
      'mac',
      evicted.map((e) => e.mac),
    )
    .delete();
}
