import { z } from 'zod';
import type { JobType } from '../jobs/types.js';
import { inFileOrder, parseImport, planImportRow, type RowOutcome } from './import.js';
import { InvalidNodeIpError, type NodesService } from './service.js';

export const IMPORT_NODES_JOB = 'import_nodes';

/** The file's content travels in the job (bounded by the HTTP body limit). */
export const importParams = z
  .object({
    format: z.enum(['json', 'csv']),
    content: z.string().max(8 * 1024 * 1024, 'must be at most 8 MiB'),
    source: z.string().max(256).optional(),
  })
  .strict();
export type ImportParams = z.infer<typeof importParams>;

/**
 * `homeport nodes import FILE`: idempotent (importing the same file twice
 * changes nothing the second time), a row each created/updated/skipped/
 * rejected with its reason; bad rows never stop good ones.
 */
export function importNodesJobType(nodes: NodesService, profiles: readonly string[]): JobType<ImportParams> {
  return {
    type: IMPORT_NODES_JOB,
    params: importParams,
    stages: () => ['parse', 'import'],
    maxAttempts: 1,
    async run(p, ctx) {
      const parsed = parseImport(p.format, p.content, profiles);
      await ctx.stage('parse', async () => {
        await ctx.progress({ message: `${parsed.rows.length} good row(s), ${parsed.rejected.length} rejected` });
        return { rows: parsed.rows.length, rejected: parsed.rejected.length };
      });
      const outcomes: RowOutcome[] = parsed.rejected.map((r) => ({ row: r.row, action: 'rejected', reason: r.reason }));
      await ctx.stage('import', async () => {
        const byMac = new Map((await nodes.list({})).map((n) => [n.mac, n]));
        for (const [i, { row, input }] of parsed.rows.entries()) {
          const existing = byMac.get(input.mac) ?? null;
          const plan = planImportRow(existing, input);
          try {
            if (plan.action === 'created') await nodes.create(input.mac, { ...plan.changes, status: 'registered' });
            if (plan.action === 'updated') await nodes.update(existing!.id, plan.changes);
            outcomes.push({ row, mac: input.mac, action: plan.action, reason: plan.reason });
          } catch (err) {
            if (!(err instanceof InvalidNodeIpError)) throw err;
            outcomes.push({ row, mac: input.mac, action: 'rejected', reason: err.message });
          }
          if (i % 50 === 0)
            await ctx.progress({
              percent: Math.round((100 * i) / parsed.rows.length),
              message: `row ${i + 1} of ${parsed.rows.length}`,
            });
        }
        // The stage's last word is what `jobs show` prints once it completed: all rows, not the last 50th.
        await ctx.progress({ percent: 100, message: `${parsed.rows.length} of ${parsed.rows.length} row(s)` });
      });
      const rows = inFileOrder(outcomes, parsed.order);
      for (const o of rows) ctx.log(`${o.row}${o.mac ? ` ${o.mac}` : ''}: ${o.action} (${o.reason})`);
      const count = (action: RowOutcome['action']) => outcomes.filter((o) => o.action === action).length;
      return {
        created: count('created'),
        updated: count('updated'),
        skipped: count('skipped'),
        rejected: count('rejected'),
        rows,
      };
    },
  };
}
