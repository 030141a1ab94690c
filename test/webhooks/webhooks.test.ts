import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClusterRow } from '../../server/store/clusters-repo.js';
import type { Node } from '../../server/store/nodes-repo.js';
import { WebhookEventMapper } from '../../server/webhooks/events.js';
import { signBody } from '../../server/webhooks/delivery.js';
import { startTestHomeport } from '../helpers/homeport.js';

const node = (overrides: Partial<Node> = {}): Node => ({
  id: 1,
  mac: '52:54:00:77:00:01',
  hostname: 'pve1',
  ip: null,
  uuid: null,
  arch: null,
  type: null,
  profile: null,
  cluster: 'lab',
  labels: {},
  status: 'registered',
  deploymentStatus: 'installation',
  deploymentPhaseStatus: 'in_progress',
  progress: null,
  reprovisionStatus: 'in_progress',
  netbootEnabled: true,
  registeredAt: 0,
  lastUpdate: 1000,
  phaseStartedAt: null,
  reprovisionStarted: null,
  reprovisionTimeoutMin: null,
  roundNonce: null,
  roundOpenedAt: null,
  roundClosesAt: null,
  roundBoundIp: null,
  observedIp: null,
  reportedIp: null,
  ...overrides,
});
const cluster = (state: ClusterRow['state'], lastError: string | null = null): ClusterRow => ({
  id: 1,
  name: 'lab',
  driver: 'script',
  state,
  expectedNodes: 3,
  lastError,
  formedAt: null,
  createdAt: 0,
  updatedAt: 2000,
});

describe('webhook events (pure mapping)', () => {
  it('announces a timeout once, when it is reached', () => {
    const mapper = new WebhookEventMapper();
    expect(mapper.fromNodeEvent({ type: 'node', node: node() })).to.equal(null);
    expect(mapper.fromNodeEvent({ type: 'node', node: node({ reprovisionStatus: 'timeout' }) })).to.deep.include({
      event: 'timeout',
    });
    expect(
      mapper.fromNodeEvent({ type: 'node', node: node({ reprovisionStatus: 'timeout', hostname: 'renamed' }) }),
      'not again',
    ).to.equal(null);
  });

  it('announces cluster formed and failed once per state change', () => {
    const mapper = new WebhookEventMapper();
    const sequence: [ClusterRow, string | null][] = [
      [cluster('pending'), null],
      [cluster('forming'), null],
      [cluster('error', 'pvecm add failed'), 'cluster_failed'],
      [cluster('error', 'pvecm add failed'), null],
      [cluster('forming'), null],
      [cluster('formed'), 'cluster_formed'],
      [cluster('formed'), null],
    ];
    for (const [row, expected] of sequence)
      expect(mapper.fromCluster(row)?.event ?? null, `${row.state}`).to.equal(expected);
  });
});

describe('webhook delivery over real HTTP', function () {
  this.timeout(30_000);

  it('posts phase reports signed with HMAC-SHA256, and retries after a 5xx with the same delivery id', async () => {
    const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
    let failFirst = true;
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.statusCode = failFirst ? 503 : 200;
        failFirst = false;
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const secret = 'a-webhook-secret-of-some-length';
    const hp = await startTestHomeport({
      env: {
        HOMEPORT_WEBHOOKS: JSON.stringify([{ url, secret, events: ['phase'] }]),
        HOMEPORT_WATCHER__ENABLED: 'false',
      },
    });
    try {
      const mac = '52:54:00:77:00:02';
      await hp.request('POST', '/api/nodes/register', {
        body: { mac, hostname: 'pve2' },
        headers: { 'x-homeport-token': await hp.tokenFor(mac) },
      });
      const report = await hp.request('POST', '/api/status/phase', {
        body: { mac, phase: 'installation', status: 'completed', message: 'done', token: await hp.tokenFor(mac) },
      });
      expect(report.status).to.equal(200);
      for (let i = 0; i < 100 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
      expect(received, 'one failed attempt, one retry').to.have.length(2);
      const [first, retry] = received as [(typeof received)[0], (typeof received)[0]];
      expect(retry.headers['x-homeport-delivery']).to.equal(first.headers['x-homeport-delivery']);
      expect(retry.headers['x-homeport-event']).to.equal('phase');
      expect(retry.headers['x-homeport-signature']).to.equal(signBody(secret, retry.body));
      const payload = JSON.parse(retry.body) as {
        event: string;
        phase: string;
        status: string;
        message: string;
        node: { mac: string };
      };
      expect(payload).to.deep.include({ event: 'phase', phase: 'installation', status: 'completed', message: 'done' });
      expect(payload.node.mac).to.equal(mac);
    } finally {
      await hp.stop();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('refuses a webhook config without an http URL, naming the key', async () => {
    let error: unknown;
    try {
      await startTestHomeport({ env: { HOMEPORT_WEBHOOKS: JSON.stringify([{ url: 'ftp://x/y' }]) } });
    } catch (err) {
      error = err;
    }
    expect(String(error)).to.match(/webhooks\.0\.url: must be an http\(s\) URL/);
  });
});
