/**
 * What the nodes API answers, as zod schemas: the presenters (./present.ts,
 * ./summary.ts) are typed from them and the OpenAPI document is built from
 * them, so the document describes what the code actually sends.
 */
import { z } from 'zod';
import { PHASE_STATUSES, REPROVISION_STATUSES } from './phases.js';

const isoTime = z.string().datetime().describe('ISO 8601, UTC');

export const nodeJson = z
  .object({
    id: z.number().int(),
    mac: z.string().describe('aa:bb:cc:dd:ee:ff'),
    hostname: z.string().nullable(),
    ip: z.string().nullable().describe('the address an admin set (API, import)'),
    address: z
      .string()
      .nullable()
      .describe('what homeport connects to (SSH, readiness): ip, else the address it saw the install round bound to'),
    reported_ip: z.string().nullable().describe('the address the installer reported; shown, never connected to'),
    address_warning: z.string().nullable().describe('set when reported_ip differs from address'),
    install_round: z
      .object({
        open: z.boolean(),
        opened_at: isoTime.nullable(),
        closes_at: isoTime.nullable(),
        bound_ip: z.string().nullable(),
      })
      .strict()
      .describe(
        "the node's install round: its phone-home token and configs are valid only while open, and only for bound_ip",
      ),
    uuid: z.string().nullable(),
    arch: z.string().nullable(),
    type: z.string().nullable(),
    profile: z.string().nullable(),
    cluster: z.string().nullable(),
    labels: z.record(z.string()),
    status: z.string().describe('registered, discovered, post-install-complete, ...'),
    deployment_status: z.string().describe('the current phase'),
    phase_status: z.enum(PHASE_STATUSES).nullable(),
    phase_progress: z.number().int().nullable(),
    overall_progress: z.number().describe('0-100 over the ordered phases'),
    reprovision_status: z.enum(REPROVISION_STATUSES).nullable(),
    netboot_enabled: z.boolean(),
    registered_at: isoTime.nullable(),
    last_update: isoTime.nullable(),
    phase_started_at: isoTime.nullable(),
    reprovision_started: isoTime.nullable(),
  })
  .strict();
export type NodeJson = z.output<typeof nodeJson>;

export const historyJson = z
  .object({
    id: z.number().int(),
    node_id: z.number().int(),
    phase: z.string(),
    status: z.string(),
    message: z.string().nullable(),
    progress: z.number().int().nullable(),
    source: z.string().describe('installer, admin, watcher, ...'),
    source_ip: z.string().nullable(),
    applied: z.boolean().describe('false when the report rule kept the node where it was'),
    at: isoTime.nullable(),
  })
  .strict();
export type HistoryJson = z.output<typeof historyJson>;

export const summaryJson = z
  .object({
    total_nodes: z.number().int(),
    by_phase: z.record(z.number().int()),
    by_reprovision_status: z.record(z.number().int()),
    in_progress: z.array(
      z
        .object({
          id: z.number().int(),
          hostname: z.string().nullable(),
          mac: z.string(),
          phase: z.string(),
          since: isoTime.nullable(),
        })
        .strict(),
    ),
    failures: z.array(
      z
        .object({
          id: z.number().int(),
          hostname: z.string().nullable(),
          mac: z.string(),
          phase: z.string(),
          message: z.string().nullable(),
          at: isoTime,
        })
        .strict(),
    ),
    durations: z
      .object({
        deployed_nodes: z.number().int(),
        avg_seconds: z.number().nullable(),
        min_seconds: z.number().nullable(),
        max_seconds: z.number().nullable(),
      })
      .strict()
      .describe('install durations of deployed nodes, from the start of the current install to the last update'),
  })
  .strict();
export type DeploymentSummary = z.output<typeof summaryJson>;
