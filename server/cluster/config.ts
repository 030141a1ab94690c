import { z } from 'zod';
import { ms, port } from '../kernel/schema.js';
import { nameField } from '../nodes/validation.js';

const clusterSchema = z
  .object({
    driver: z.enum(['proxmox', 'k3s', 'script']),
    /** driver script: an executable run with CLUSTER and NODES (JSON) in its environment. */
    script: z.string().min(1).optional(),
    /** Do not form before this many nodes are in the cluster. */
    expectedNodes: z.number().int().min(1).max(1000).optional(),
    /** TCP ports that must accept before a node counts as ready; default per driver (proxmox 8006). */
    readinessPorts: z.array(port).max(16).optional(),
    /**
     * Require SSH to answer before a node counts as ready. Off for installers
     * whose nodes run no sshd: their `deployed` report is the readiness signal.
     */
    readinessSsh: z.boolean().default(true),
    /** Limit for one mutating step (create, join, script run). */
    stepTimeoutMs: ms(1000, 3_600_000).default(600_000),
    /** How long verification waits for every member to show up. */
    verifyTimeoutMs: ms(1000, 3_600_000).default(300_000),
    k3s: z
      .object({
        /** Runs the k3s installer with arguments appended, e.g. `server --cluster-init`. */
        installCommand: z.string().min(1).default('curl -sfL https://get.k3s.io | sh -s -'),
        tokenFile: z.string().min(1).default('/var/lib/rancher/k3s/server/node-token'),
        joinAs: z.enum(['server', 'agent']).default('server'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((cluster, ctx) => {
    if (cluster.driver === 'script' && !cluster.script)
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['script'], message: 'is required when driver is script' });
  });

/** Clusters by name (the nodes' `cluster` field). */
export const clustersSchema = z.record(nameField, clusterSchema).default({});

export type ClusterSettings = z.infer<typeof clusterSchema>;
export type ClustersSettings = z.infer<typeof clustersSchema>;
