import crypto from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { ClusterEvent } from '../cluster/service.js';
import type { Logger } from '../log/logger.js';
import type { NodeEvent, NodeEventSource } from '../nodes/service.js';
import { withRetry } from '../util/retry.js';
import { WebhookEventMapper, type WebhookEventName, type WebhookPayload } from './events.js';

export interface WebhookTarget {
  url: string;
  /** HMAC-SHA256 key for the X-Homeport-Signature header; never logged. */
  secret?: string;
  /** Events this target wants; all when unset. */
  events?: WebhookEventName[];
}

export interface WebhookOptions {
  targets: WebhookTarget[];
  nodeEvents: NodeEventSource;
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

/**
 * A webhook URL as logs show it: scheme, host and port only. For Slack,
 * Discord and many others the path or query IS the credential, and userinfo
 * is a password.
 */
export function loggableUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}/…`;
  } catch {
    return '(unparsable URL)';
  }
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
  const stopping = new AbortController();
  // No cap beyond the last doubling: 4 attempts wait 0.5, 1 and 2 s by default.
  const policy = { attempts, baseDelayMs: firstRetryMs, maxDelayMs: firstRetryMs * 2 ** attempts };

  const deliver = async (target: WebhookTarget, payload: WebhookPayload): Promise<void> => {
    const body = JSON.stringify(payload);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-homeport-event': payload.event,
      'x-homeport-delivery': crypto.randomUUID(),
    };
    if (target.secret) headers['x-homeport-signature'] = signBody(target.secret, body);
    try {
      const outcome = await withRetry(
        policy,
        async () => {
          const result = await post(target.url, headers, body, timeoutMs);
          if (result === 'retry') throw new RetryableDelivery();
          return result;
        },
        { retryable: (err) => err instanceof RetryableDelivery, signal: stopping.signal },
      );
      if (outcome === 'refused')
        o.log.warn({ url: loggableUrl(target.url), event: payload.event }, 'webhook refused (4xx); not retried');
    } catch {
      o.log.warn({ url: loggableUrl(target.url), event: payload.event, attempts }, 'webhook not delivered; gave up');
    }
  };

  const enqueue = (payload: WebhookPayload | null) => {
    if (!payload || stopping.signal.aborted) return;
    for (const target of o.targets) {
      if (target.events && !target.events.includes(payload.event)) continue;
      if (inFlight.size >= maxPending) {
        o.log.warn({ url: loggableUrl(target.url), event: payload.event }, 'webhook queue full; event dropped');
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
      stopping.abort();
      o.nodeEvents.off('change', onNode);
      o.clusterEvents.off('change', onCluster);
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise((resolve) => setTimeout(resolve, graceMs).unref()),
      ]);
    },
  };
}

/** A network error or 5xx: worth another attempt. */
class RetryableDelivery extends Error {}

async function post(
  url: string,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<'ok' | 'refused' | 'retry'> {
  try {
    const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    if (response.ok) return 'ok';
    return response.status >= 400 && response.status < 500 ? 'refused' : 'retry';
  } catch {
    return 'retry';
  }
}
