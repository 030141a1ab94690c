import crypto from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { ClusterEvent } from '../cluster/service';
import type { Logger } from '../log/logger';
import type { NodeEvent } from '../nodes/service';
import { WebhookEventMapper, type WebhookEventName, type WebhookPayload } from './events';

export interface WebhookTarget {
  url: string;
  /** HMAC-SHA256 key for the X-Homeport-Signature header; never logged. */
  secret?: string;
  /** Events this target wants; all when unset. */
  events?: WebhookEventName[];
}

export interface WebhookOptions {
  targets: WebhookTarget[];
  nodeEvents: EventEmitter<{ change: [NodeEvent] }>;
  clusterEvents: EventEmitter<{ change: [ClusterEvent] }>;
  log: Logger;
  attempts?: number;
  timeoutMs?: number;
  firstRetryMs?: number;
  /** Deliveries waiting at most; beyond it the oldest is dropped (and logged). */
  maxPending?: number;
}

export interface Webhooks {
  /** Waits (bounded) for deliveries in flight, then stops listening. */
  close(graceMs?: number): Promise<void>;
}

/** `sha256=<hex>` of the exact body, as GitHub-style receivers verify it. */
export function signBody(secret: string, body: string): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Posts events to the configured URLs: JSON body, X-Homeport-Event,
 * X-Homeport-Delivery (the same on every retry, so receivers can dedupe) and
 * X-Homeport-Signature. Retries with exponential backoff on network errors
 * and 5xx; a 4xx is the receiver's final word. Never blocks a phase report.
 */
export function startWebhooks(o: WebhookOptions): Webhooks {
  const attempts = o.attempts ?? 4;
  const timeoutMs = o.timeoutMs ?? 5000;
  const firstRetryMs = o.firstRetryMs ?? 500;
  const maxPending = o.maxPending ?? 1000;
  const mapper = new WebhookEventMapper();
  const inFlight = new Set<Promise<void>>();
  let closed = false;

  const deliver = async (target: WebhookTarget, payload: WebhookPayload): Promise<void> => {
    const body = JSON.stringify(payload);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-homeport-event': payload.event, 'x-homeport-delivery': crypto.randomUUID() };
    if (target.secret) headers['x-homeport-signature'] = signBody(target.secret, body);
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const outcome = await post(target.url, headers, body, timeoutMs);
      if (outcome === 'ok' || outcome === 'refused') {
        if (outcome === 'refused') o.log.warn({ url: target.url, event: payload.event }, 'webhook refused (4xx); not retried');
        return;
      }
      if (attempt === attempts || closed) break;
      await new Promise((resolve) => setTimeout(resolve, firstRetryMs * 2 ** (attempt - 1)));
    }
    o.log.warn({ url: target.url, event: payload.event, attempts }, 'webhook not delivered; gave up');
  };

  const enqueue = (payload: WebhookPayload | null) => {
    if (!payload || closed) return;
    for (const target of o.targets) {
      if (target.events && !target.events.includes(payload.event)) continue;
      if (inFlight.size >= maxPending) {
        o.log.warn({ url: target.url, event: payload.event }, 'webhook queue full; event dropped');
        continue;
      }
      const delivery = deliver(target, payload).finally(() => inFlight.delete(delivery));
      inFlight.add(delivery);
    }
  };

  const onNode = (event: NodeEvent) => enqueue(mapper.fromNodeEvent(event));
  const onCluster = (event: ClusterEvent) => enqueue(mapper.fromCluster(event.cluster));
  if (o.targets.length) {
    o.nodeEvents.on('change', onNode);
    o.clusterEvents.on('change', onCluster);
  }
  return {
    async close(graceMs = 5000) {
      closed = true;
      o.nodeEvents.off('change', onNode);
      o.clusterEvents.off('change', onCluster);
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    },
  };
}

async function post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<'ok' | 'refused' | 'retry'> {
  try {
    const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    if (response.ok) return 'ok';
    return response.status >= 400 && response.status < 500 ? 'refused' : 'retry';
  } catch {
    return 'retry';
  }
}
