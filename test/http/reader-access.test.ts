import { expect } from 'chai';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';

/**
 * Reader access (issue 17), as a stranger on the boot network reads it:
 * with monitoring.requireAdmin the status API is closed like the page; in
 * every mode a node's BMC address (its power switch and console) is left out
 * of what non-admins can read: status API, status page, event stream.
 */
const MAC = '52:54:00:0d:00:01';
const BMC = '10.66.0.5:443';
const OOB = '10.66.0.6';
const LABELS = { bmc: BMC, idrac_ip: '10.66.0.7', oob: OOB, rack: 'r12' };

async function readEvents(
  url: string,
  headers: Record<string, string>,
  until: RegExp,
  timeoutMs = 5000,
): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let text = '';
  try {
    const response = await fetch(url, { headers, signal: controller.signal });
    const reader = response.body!.getReader();
    while (!until.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
  } catch {
    /* aborted at the time bound: return what arrived */
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return text;
}

describe('reader access: status API and BMC labels', function () {
  this.timeout(60_000);
  let hp: TestHomeport;
  afterEach(async () => hp?.stop());

  const state = async () =>
    JSON.stringify([
      await hp.homeport.db.knex('nodes').orderBy('id').select(),
      await hp.homeport.db.knex('deployment_history').orderBy('id').select(),
    ]);
  const addNode = async () => {
    const created = await hp.request('POST', '/api/nodes', {
      admin: true,
      body: { mac: MAC, hostname: 'pve1', ip: '10.66.1.11', labels: LABELS },
    });
    expect(created.status).to.equal(201);
    return created.body.id as number;
  };

  it('with monitoring.requireAdmin every GET /api/status/* answers 401 to a stranger, and the admin token opens them', async () => {
    hp = await startTestHomeport({ env: { HOMEPORT_MONITORING__REQUIREADMIN: 'true' } });
    const id = await addNode();
    const before = await state();
    const urls = [
      `/api/status/nodes/${id}`,
      `/api/status/nodes/${MAC}`,
      '/api/status/deployment/10.66.1.11',
      `/api/status/history/${id}`,
      '/api/status/summary',
    ];
    const nodeToken = await hp.tokenFor(MAC);
    const strangers: Record<string, Record<string, string>> = {
      nothing: {},
      'a wrong token': { authorization: 'Bearer wrong' },
      "the node's own token": { authorization: `Bearer ${nodeToken}`, 'x-homeport-token': nodeToken },
    };
    for (const url of urls) {
      for (const [what, headers] of Object.entries(strangers)) {
        const response = await hp.request('GET', url, { headers });
        expect(response.status, `${url} with ${what}`).to.equal(401);
        expect(response.text, `${url} with ${what}: nothing of the node`)
          .not.to.contain(MAC)
          .and.not.to.contain('pve1');
      }
      expect((await hp.request('GET', url, { admin: true })).status, `${url} as admin`).to.equal(200);
    }
    expect(await state(), 'no row changed').to.equal(before);
  });

  it('open mode: the status API, the node page and the event stream never show BMC labels; the admin API does', async () => {
    hp = await startTestHomeport({ env: { HOMEPORT_REPROVISION__REDFISH__BMCLABEL: 'oob' } });
    const id = await addNode();
    const secretValues = [BMC, OOB, '10.66.0.7'];
    const anonymous = [
      await hp.request('GET', `/api/status/nodes/${id}`),
      await hp.request('GET', '/api/status/deployment/10.66.1.11'),
    ];
    for (const response of anonymous) {
      expect(response.status).to.equal(200);
      expect(response.body.labels).to.deep.equal({ rack: 'r12' });
    }
    const page = await fetch(`${hp.baseUrl}/monitoring/nodes/${id}`).then((r) => r.text());
    expect(page, 'other labels are shown').to.contain('r12');
    const events = readEvents(`${hp.baseUrl}/api/events`, {}, /pve1-renamed/);
    await new Promise((r) => setTimeout(r, 200));
    expect(
      (await hp.request('PATCH', `/api/nodes/${id}`, { admin: true, body: { hostname: 'pve1-renamed' } })).status,
    ).to.equal(200);
    const stream = await events;
    expect(stream, 'the change reached the stream').to.contain('pve1-renamed');
    for (const value of secretValues) {
      for (const [where, text] of [
        ['status API', anonymous.map((r) => r.text).join()],
        ['node page', page],
        ['event stream', stream],
      ] as const)
        expect(text, `${value} in the ${where}`).not.to.contain(value);
    }
    const admin = await hp.request('GET', `/api/nodes/${id}`, { admin: true });
    expect(admin.body.labels, 'admins see every label').to.deep.equal({ ...LABELS });
  });
});
