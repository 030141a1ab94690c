import type { Logger } from '../log/logger.js';
import type { Clock } from '../kernel/clock.js';
import type { NodesService } from '../nodes/service.js';
import type { Node } from '../store/nodes-repo.js';
import { REPROVISION_EVENT } from '../nodes/lifecycle.js';
import { reprovisionChanges, selectTargets, type ReprovisionTargets } from './plan.js';
import type { PowerControl } from './power.js';

export class UnknownNodesError extends Error {
  constructor(readonly refs: string[]) {
    super(`no node ${refs.join(', ')}`);
  }
}

/** Names that several nodes share (hostnames are not unique). */
export class AmbiguousNodesError extends Error {
  constructor(descriptions: string[]) {
    super(descriptions.join('; '));
  }
}

export interface ReprovisionOutcome {
  node: Node;
  restart: { ok: boolean; detail: string };
}

export interface ReprovisionResult {
  /** The round's start time; the nodes' reprovision_started. */
  round: number;
  timeoutMin: number;
  method: PowerControl['method'];
  nodes: ReprovisionOutcome[];
}

/** Restarts at once; each may wait for its SSH or BMC timeout. */
const RESTART_CONCURRENCY = 16;

/**
 * Seed 000's reprovision trigger: marks the nodes in_progress (netboot on,
 * phases reset, history row by the admin), puts their clusters back to
 * pending, then restarts each machine by the configured method. A failed
 * restart marks that node `error` with the reason.
 */
export class ReprovisionService {
  constructor(
    private readonly o: {
      nodes: NodesService;
      resetCluster: (name: string) => Promise<void>;
      power: PowerControl;
      clock: Clock;
      log: Logger;
      defaultTimeoutMin: number;
    },
  ) {}

  async start(targets: ReprovisionTargets, timeoutMin = this.o.defaultTimeoutMin): Promise<ReprovisionResult> {
    const { selected, unknown, ambiguous } = selectTargets(await this.o.nodes.list({}), targets);
    if (unknown.length) throw new UnknownNodesError(unknown);
    if (ambiguous.length) throw new AmbiguousNodesError(ambiguous);
    const round = this.o.clock();
    const started: Node[] = [];
    for (const node of selected) {
      const message = `reprovision requested (restart: ${this.o.power.method}, timeout ${timeoutMin} min)`;
      const updated = await this.o.nodes.applyLifecycle({
        nodeId: node.id,
        changes: reprovisionChanges(node, round, timeoutMin),
        history: { phase: 'pending', status: 'in_progress', message, source: 'admin' },
      });
      if (updated) started.push(updated);
    }
    for (const cluster of new Set(started.flatMap((n) => (n.cluster ? [n.cluster] : []))))
      await this.o.resetCluster(cluster);
    this.o.log.info(
      { nodes: started.map((n) => n.hostname ?? n.mac), method: this.o.power.method, timeoutMin },
      'reprovision started',
    );
    const outcomes: ReprovisionOutcome[] = [];
    for (let i = 0; i < started.length; i += RESTART_CONCURRENCY) {
      outcomes.push(
        ...(await Promise.all(started.slice(i, i + RESTART_CONCURRENCY).map((node) => this.restart(node)))),
      );
    }
    return { round, timeoutMin, method: this.o.power.method, nodes: outcomes };
  }

  private async restart(node: Node): Promise<ReprovisionOutcome> {
    try {
      const detail = await this.o.power.restart(node);
      const updated = await this.o.nodes.applyLifecycle({
        nodeId: node.id,
        expect: ['in_progress'],
        changes: {},
        history: { phase: REPROVISION_EVENT, status: 'in_progress', message: `restart: ${detail}`, source: 'admin' },
      });
      return { node: updated ?? node, restart: { ok: true, detail } };
    } catch (err) {
      const detail = (err as Error).message;
      this.o.log.warn({ node: node.id, hostname: node.hostname, err: detail }, 'reprovision restart failed');
      const updated = await this.o.nodes.applyLifecycle({
        nodeId: node.id,
        expect: ['in_progress'],
        changes: { reprovisionStatus: 'error' },
        history: {
          phase: REPROVISION_EVENT,
          status: 'failed',
          message: `restart failed: ${detail}`.slice(0, 2000),
          source: 'admin',
        },
      });
      return { node: updated ?? node, restart: { ok: false, detail } };
    }
  }
}
