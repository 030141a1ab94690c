/**
 * The phone-home load: N simulated nodes register, then each posts the full
 * phase sequence (every phase in_progress then completed) over real HTTP, all
 * nodes at once. Shared by the phase benchmark (scripts/bench/phase-bench.ts)
 * and the crash-safety tests (test/reliability/crash-*.test.ts).
 */
import { Client } from 'undici';

export const LOAD_PHASES = [
  'foundation_start',
  'network_config',
  'storage_discovery',
  'image_download',
  'installation',
  'post_install',
  'health_validation',
  'deployed',
];
export const LOAD_REPORTS = LOAD_PHASES.flatMap(
  (phase) =>
    [
      [phase, 'in_progress'],
      [phase, 'completed'],
    ] as const,
);

/** The i-th simulated node's MAC (52:54:00:..., QEMU's prefix). */
export function loadMac(i: number): string {
  const hex = (0x525400000000 + i).toString(16).padStart(12, '0');
  return hex.match(/../g)!.join(':');
}

export interface PostResult {
  /** A 2xx answer: the server acknowledged the write. */
  ok: boolean;
  /** HTTP status, or null when the request failed (connection refused or reset: the server died). */
  status: number | null;
  ms: number;
}

export type NodePost = (urlPath: string, mac: string, body: object) => Promise<PostResult>;

/**
 * A poster for simulated nodes: each node (MAC) has its own keep-alive
 * connection and its own round token (from addLoadNodes), as a real
 * installer has it rendered into its template. Never rejects.
 *
 * One undici Client per node, not one Agent with `connections: nodes`: the
 * Agent's pool hands a new request to the first connection it does not yet
 * see as busy, so requests queued behind each other on a few connections
 * while hundreds stayed idle (measured: half the nodes got their first
 * answer only seconds into the run, and the server closed their unused
 * connections after its keep-alive timeout).
 */
export function nodePoster(
  baseUrl: string,
  tokens: ReadonlyMap<string, string>,
): { post: NodePost; connect(macs: string[]): Promise<void>; close(): Promise<void> } {
  const nodes = new Map<string, { client: Client; token: string }>();
  const nodeOf = (mac: string) => {
    let node = nodes.get(mac);
    if (!node) {
      node = { client: new Client(baseUrl, { pipelining: 1, keepAliveTimeout: 30_000 }), token: tokens.get(mac) ?? '' };
      nodes.set(mac, node);
    }
    return node;
  };
  const post: NodePost = async (urlPath, mac, body) => {
    const started = performance.now();
    try {
      const { client, token } = nodeOf(mac);
      const response = await client.request({
        path: urlPath,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-homeport-token': token },
        body: JSON.stringify(body),
      });
      await response.body.text();
      return {
        ok: response.statusCode >= 200 && response.statusCode < 300,
        status: response.statusCode,
        ms: performance.now() - started,
      };
    } catch {
      return { ok: false, status: null, ms: performance.now() - started };
    }
  };
  /** Opens each node's connection with a GET /healthz, so a load starts on established connections. */
  const connect = async (macs: string[]) => {
    await Promise.all(
      macs.map(async (mac) => {
        const response = await nodeOf(mac).client.request({ path: '/healthz', method: 'GET' });
        await response.body.text();
      }),
    );
  };
  return {
    post,
    connect,
    close: async () => void (await Promise.all([...nodes.values()].map(({ client }) => client.close()))),
  };
}

/** Registers nodes 0..n-1, 100 at a time; throws when one is refused. */
/**
 * An admin adds the load's nodes (which opens each one's install round) and
 * reads their round tokens, 100 at a time; returns MAC -> token.
 */
export async function addLoadNodes(baseUrl: string, adminToken: string, nodes: number): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  const addOne = async (mac: string) => {
    const created = await fetch(`${baseUrl}/api/nodes`, { method: 'POST', headers, body: JSON.stringify({ mac }) });
    if (created.status !== 201 && created.status !== 409) throw new Error(`adding ${mac}: HTTP ${created.status}`);
    const token = await fetch(`${baseUrl}/api/nodes/${mac}/token`, { headers });
    if (token.status !== 200) throw new Error(`token of ${mac}: HTTP ${token.status}`);
    tokens.set(mac, ((await token.json()) as { token: string }).token);
  };
  for (let i = 0; i < nodes; i += 100)
    await Promise.all(Array.from({ length: Math.min(100, nodes - i) }, (_, k) => addOne(loadMac(i + k))));
  return tokens;
}

export async function registerLoadNodes(post: NodePost, nodes: number): Promise<void> {
  for (let i = 0; i < nodes; i += 100) {
    const results = await Promise.all(
      Array.from({ length: Math.min(100, nodes - i) }, (_, k) =>
        post('/api/nodes/register', loadMac(i + k), { mac: loadMac(i + k), hostname: `node${i + k}` }),
      ),
    );
    const refused = results.find((r) => !r.ok);
    if (refused) throw new Error(`registration refused (${refused.status ?? 'no answer'})`);
  }
}

export interface LoadReport {
  node: number;
  mac: string;
  phase: string;
  status: string;
  message: string;
  result: PostResult;
}

/**
 * Every node posts its reports in order, all nodes at once; resolves when all
 * are answered (or failed). A node stops at its first unanswered request
 * (the server is gone), so a dead server ends the load quickly.
 */
export async function runPhaseLoad(
  post: NodePost,
  nodes: number,
  onReport: (report: LoadReport) => void,
  messageOf: (node: number, phase: string, status: string) => string = (_, phase, status) => `${phase} ${status}`,
): Promise<void> {
  await Promise.all(
    Array.from({ length: nodes }, async (_, node) => {
      const mac = loadMac(node);
      for (const [phase, status] of LOAD_REPORTS) {
        const message = messageOf(node, phase, status);
        const result = await post('/api/status/phase', mac, { mac, phase, status, message });
        onReport({ node, mac, phase, status, message, result });
        if (result.status === null) return;
      }
    }),
  );
}
