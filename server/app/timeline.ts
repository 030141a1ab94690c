import type Router from '@koa/router';
import type Koa from 'koa';
import type { Config } from '../config/schema.js';
import type { Clock } from '../kernel/clock.js';
import { HttpError } from '../kernel/errors.js';
import type { Logger } from '../log/logger.js';
import { normalizeMac } from '../nodes/mac.js';
import type { NodesService } from '../nodes/service.js';
import type { Repositories } from '../store/repositories.js';
import { timelineRouters } from '../timeline/routes.js';
import { BootEvents } from '../timeline/service.js';

/** Phases the verdict reads: the latest this many of a node's history. */
const PHASES_READ = 500;
/** Entry script fetched, no node script after this long: iPXE could not reach it. */
const SCRIPT_GAP_MS = 60_000;

export interface Timeline {
  /** Absent with timeline.enabled false: nothing is recorded. */
  events: BootEvents | undefined;
  routers: Router[];
  /** Phone-home refusals as boot events (never the token: the route hands only the reason). */
  onRefused:
    ((call: { mac: string; kind: string; reason: string; client: string; phase?: string }) => void) | undefined;
  flush(): Promise<void>;
}

/** The boot events service (issue 19) and its routes. */
export function createTimeline(input: {
  config: Config;
  repositories: Pick<Repositories, 'bootEvents'>;
  nodes: NodesService;
  clock: Clock;
  log: Logger;
  adminToken: string;
  reader?: Koa.Middleware;
}): Timeline {
  const { timeline } = input.config;
  const events = timeline.enabled
    ? new BootEvents(input.repositories.bootEvents, input.clock, input.log.child({ component: 'timeline' }), {
        maxEventsPerNode: timeline.maxEventsPerNode,
        maxAgeDays: timeline.maxAgeDays,
        seenLimit: timeline.seenLimit,
        windowMs: input.config.database.groupCommitMs,
      })
    : undefined;
  const routers = events
    ? timelineRouters({
        events,
        resolve: (ref) => resolveMachine(input.nodes, ref),
        phases: async (nodeId) =>
          (await input.nodes.historyPage(nodeId, { order: 'desc', limit: PHASES_READ, offset: 0 })).entries.reverse(),
        limits: {
          noPhoneHomeMs: timeline.noPhoneHomeMinutes * 60_000,
          phaseStallMs: timeline.phaseStallMinutes * 60_000,
          scriptGapMs: SCRIPT_GAP_MS,
        },
        clock: input.clock,
        adminToken: input.adminToken,
        reader: input.reader,
      })
    : [];
  return {
    events,
    routers,
    onRefused:
      events &&
      ((call) =>
        events.record({
          mac: call.mac,
          source: 'phone_home',
          kind: call.kind,
          outcome: 'refused',
          detail: { reason: call.reason, client: call.client, phase: call.phase },
        })),
    flush: async () => events?.flush(),
  };
}

/** A node by id, MAC or hostname; else a MAC that is no node (its boot events may still tell why). */
async function resolveMachine(nodes: NodesService, ref: string): Promise<{ mac: string; nodeId: number | null }> {
  try {
    const node = await nodes.resolve(ref);
    return { mac: node.mac, nodeId: node.id };
  } catch (err) {
    const mac = normalizeMac(ref);
    if (mac && err instanceof HttpError && err.status === 404) return { mac, nodeId: null };
    throw err;
  }
}
