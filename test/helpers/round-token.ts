/**
 * A node's phone-home token for tests: the token of its open install round,
 * read through the admin API (GET /api/nodes/:mac/token). A MAC homeport
 * does not know yet is first added as an admin would (POST /api/nodes, with
 * `fields` such as hostname, ip and cluster), which opens its round.
 */
export async function roundTokenFor(
  baseUrl: string,
  adminToken: string,
  mac: string,
  fields: Record<string, unknown> = {},
): Promise<string> {
  const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  let response = await fetch(`${baseUrl}/api/nodes/${mac}/token`, { headers });
  if (response.status === 404) {
    const created = await fetch(`${baseUrl}/api/nodes`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ mac, ...fields }),
    });
    if (created.status !== 201) throw new Error(`adding node ${mac}: HTTP ${created.status} ${await created.text()}`);
    response = await fetch(`${baseUrl}/api/nodes/${mac}/token`, { headers });
  }
  if (response.status !== 200) throw new Error(`token of ${mac}: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { token: string }).token;
}

/** The admin-set fields of a simulated node: its ip is where homeport's SSH goes (never the ip it reports). */
export function adminFields(node: { hostname: string; ip: string; cluster?: string }): Record<string, unknown> {
  return { hostname: node.hostname, ip: node.ip, ...(node.cluster ? { cluster: node.cluster } : {}) };
}
