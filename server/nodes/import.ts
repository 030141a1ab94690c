import type { z } from 'zod';
import type { Node, NodeChanges } from '../store/nodes-repo.js';
import { nodeCreateBody, unknownProfileReason } from './validation.js';

/**
 * `homeport nodes import FILE` (pure part): reads seed 000's
 * registered-nodes.json (`{"nodes": {"<mac>": {hostname, ip, mac, type, ...}}}`,
 * or a plain array of such objects) or CSV with a header naming mac,
 * hostname, ip, profile, cluster (type optional). Only identity fields are
 * imported; a seed file's reprovision_status and timestamps describe the old
 * system's state, not this one's, and are ignored. A bad row is rejected
 * with its reason; the good rows go on.
 */
export type ImportFormat = 'json' | 'csv';

/** The admin API's node fields that identify a machine; other keys of a row are ignored. */
const importRow = nodeCreateBody
  .pick({ mac: true, hostname: true, ip: true, type: true, profile: true, cluster: true })
  .strip();
export type ImportRow = z.infer<typeof importRow>;

export interface ParsedImport {
  rows: { row: string; input: ImportRow }[];
  rejected: { row: string; reason: string }[];
  /** Every row's label in file order, to report outcomes in the order an admin reads the file. */
  order: string[];
}

export type RowOutcome = {
  row: string;
  mac?: string;
  action: 'created' | 'updated' | 'skipped' | 'rejected';
  reason: string;
};

/** `profiles`: the boot profiles a row may name; a row naming another is rejected with the known ones. */
export function parseImport(format: ImportFormat, content: string, profiles: readonly string[]): ParsedImport {
  const raw = format === 'json' ? jsonRows(content) : csvRows(content);
  const parsed: ParsedImport = { rows: [], rejected: [], order: raw.map((entry) => entry.row) };
  for (const entry of raw) {
    const { row } = entry;
    if ('reason' in entry) {
      parsed.rejected.push(entry);
      continue;
    }
    const result = importRow.safeParse(entry.value);
    const profileRefused = result.success ? unknownProfileReason(profiles, result.data.profile) : null;
    if (profileRefused) parsed.rejected.push({ row, reason: `profile: ${profileRefused}` });
    else if (result.success) parsed.rows.push({ row, input: result.data });
    else
      parsed.rejected.push({
        row,
        reason: result.error.issues.map((i) => `${i.path.join('.') || 'row'}: ${i.message}`).join('; '),
      });
  }
  const seen = new Map<string, string>();
  parsed.rows = parsed.rows.filter(({ row, input }) => {
    const first = seen.get(input.mac);
    if (first) parsed.rejected.push({ row, reason: `mac ${input.mac} is already in ${first}` });
    else seen.set(input.mac, row);
    return !first;
  });
  return parsed;
}

/** Outcomes in file order (the rejected ones were known first, at parse time). */
export function inFileOrder<T extends { row: string }>(outcomes: readonly T[], order: readonly string[]): T[] {
  const rank = new Map(order.map((row, i) => [row, i]));
  return [...outcomes].sort((a, b) => (rank.get(a.row) ?? Infinity) - (rank.get(b.row) ?? Infinity));
}

/** What importing a row does to the node of its MAC, if there is one. */
export function planImportRow(
  existing: Node | null,
  input: ImportRow,
): { action: 'created' | 'updated' | 'skipped'; changes: NodeChanges; reason: string } {
  const fields: NodeChanges = {
    hostname: input.hostname,
    ip: input.ip,
    type: input.type,
    profile: input.profile,
    cluster: input.cluster,
  };
  if (!existing) return { action: 'created', changes: fields, reason: 'new node' };
  const changed = (Object.keys(fields) as (keyof NodeChanges)[]).filter(
    (k) => fields[k] !== undefined && fields[k] !== existing[k as keyof Node],
  );
  if (changed.length === 0) return { action: 'skipped', changes: {}, reason: 'unchanged' };
  return {
    action: 'updated',
    changes: Object.fromEntries(changed.map((k) => [k, fields[k]])) as NodeChanges,
    reason: `changed ${changed.join(', ')}`,
  };
}

function jsonRows(content: string): { row: string; value: unknown }[] {
  let data: unknown;
  try {
    data = JSON.parse(content);
  } catch (err) {
    throw new ImportFileError(`not JSON: ${(err as Error).message}`);
  }
  if (Array.isArray(data)) return data.map((value, i) => ({ row: `#${i + 1}`, value }));
  const nodes = (data as { nodes?: unknown } | null)?.nodes;
  if (!nodes || typeof nodes !== 'object')
    throw new ImportFileError('expected {"nodes": {"<mac>": {...}}} (registered-nodes.json) or an array of nodes');
  const entries = Array.isArray(nodes) ? nodes.map((v, i) => [`#${i + 1}`, v] as const) : Object.entries(nodes);
  // In the seed's file the key is the MAC; an entry may leave out its own `mac`.
  return entries.map(([key, value]) => ({
    row: Array.isArray(nodes) ? key : `"${key}"`,
    value: value && typeof value === 'object' && !('mac' in value) ? { ...value, mac: key } : value,
  }));
}

const CSV_COLUMNS = ['mac', 'hostname', 'ip', 'type', 'profile', 'cluster'];

/** Simple CSV: comma-separated, no quoted commas (none of the columns may hold one). */
function csvRows(content: string): ({ row: string; value: unknown } | { row: string; reason: string })[] {
  const lines = content.split(/\r?\n/).map((l, i) => ({ n: i + 1, text: l.trim() }));
  const data = lines.filter((l) => l.text && !l.text.startsWith('#'));
  const header = data.shift();
  if (!header) throw new ImportFileError('empty CSV: expected a header row such as mac,hostname,ip,profile,cluster');
  const columns = header.text.split(',').map((c) => c.trim().toLowerCase());
  const unknown = columns.filter((c) => !CSV_COLUMNS.includes(c));
  if (!columns.includes('mac') || unknown.length)
    throw new ImportFileError(
      `CSV header must name mac and only ${CSV_COLUMNS.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`,
    );
  return data.map(({ n, text }) => {
    const cells = text.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    if (cells.length !== columns.length)
      return { row: `line ${n}`, reason: `has ${cells.length} columns, the header ${columns.length}` };
    // An empty cell means "not given".
    return {
      row: `line ${n}`,
      value: Object.fromEntries(columns.flatMap((c, i) => (cells[i] ? [[c, cells[i]]] : []))),
    };
  });
}

/** The whole file is unreadable (not one bad row). */
export class ImportFileError extends Error {}
