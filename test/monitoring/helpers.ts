import type { TestHomeport } from '../helpers/homeport.js';

export interface SeedNode {
  mac: string;
  hostname?: string;
  ip?: string;
  profile?: string;
  cluster?: string;
  /** Phase reports to replay, in order: [phase, status, message?]. */
  phases?: [string, 'in_progress' | 'completed' | 'failed', string?][];
}

/** Creates nodes over the admin API and replays their phase reports over the phone-home API; returns their ids by MAC. */
export async function seedNodes(hp: TestHomeport, nodes: SeedNode[]): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const { phases = [], ...fields } of nodes) {
    const created = await hp.request('POST', '/api/nodes', { admin: true, body: fields });
    if (created.status !== 201) throw new Error(`seeding ${fields.mac}: ${created.status} ${created.text}`);
    ids.set(fields.mac, created.body.id as number);
    for (const [phase, status, message] of phases) await reportPhase(hp, fields.mac, phase, status, message);
  }
  return ids;
}

export async function reportPhase(
  hp: TestHomeport,
  mac: string,
  phase: string,
  status: string,
  message?: string,
): Promise<void> {
  const res = await hp.request('POST', '/api/status/phase', {
    body: { mac, phase, status, message, token: await hp.tokenFor(mac) },
  });
  if (res.status !== 200) throw new Error(`phase ${phase} for ${mac}: ${res.status} ${res.text}`);
}

export async function insertCluster(
  hp: TestHomeport,
  row: { name: string; state: string; driver?: string; last_error?: string | null; expected_nodes?: number },
): Promise<void> {
  const now = Date.now();
  await hp.homeport.db.knex('clusters').insert({ driver: 'script', ...row, created_at: now, updated_at: now });
}

/** An open event stream: messages as they arrive, read with bounded waits. */
export interface EventStreamReader {
  status: number;
  headers: Headers;
  /** Waits (bounded) for a message block matching the predicate; returns it. */
  next(match: (block: string) => boolean, timeoutMs?: number): Promise<string>;
  close(): void;
}

export async function openEventStream(url: string, headers: Record<string, string> = {}): Promise<EventStreamReader> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const blocks: string[] = [];
  let buffered = '';
  // Wakes a pending next() when data arrives (an object: TS does not track closures' writes to a let).
  const wake: { waiter: (() => void) | null } = { waiter: null };
  const reading = (async () => {
    if (!response.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body) {
        buffered += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          blocks.push(buffered.slice(0, end));
          buffered = buffered.slice(end + 2);
        }
        wake.waiter?.();
      }
    } catch {
      // aborted
    }
  })();
  return {
    status: response.status,
    headers: response.headers,
    async next(match, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const index = blocks.findIndex(match);
        if (index >= 0) return blocks.splice(0, index + 1)[index]!;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(blocks)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake.waiter = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake.waiter = null;
      }
    },
    close() {
      abort.abort();
      void reading;
    },
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an event's JSON; each test asserts the fields it reads
export const dataOf = (block: string): Record<string, any> => JSON.parse(block.replace(/^data: /, ''));

/** Prometheus text format samples, keyed `name{a="1",b="2"}` with labels sorted. */
export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) continue;
    const labels = match[2]
      ? [...match[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => `${m[1]}="${m[2]}"`).sort()
      : [];
    samples.set(`${match[1]}{${labels.join(',')}}`, Number(match[3]));
  }
  return samples;
}

export function sampleKey(name: string, labels: Record<string, string> = {}): string {
  return `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',')}}`;
}

export async function scrape(hp: TestHomeport): Promise<Map<string, number>> {
  const res = await fetch(hp.baseUrl + '/metrics');
  if (res.status !== 200) throw new Error(`/metrics: ${res.status}`);
  return parseMetrics(await res.text());
}
