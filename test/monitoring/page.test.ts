import crypto from 'node:crypto';
import { expect } from 'chai';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import {
  dataOf,
  insertCluster,
  openEventStream,
  reportPhase,
  seedNodes,
  type EventStreamReader,
  type SeedNode,
} from './helpers.js';

const FLEET: SeedNode[] = [
  {
    mac: '52:54:00:10:00:01',
    hostname: 'pve1',
    ip: '10.0.0.11',
    profile: 'proxmox',
    cluster: 'lab',
    phases: [['installation', 'in_progress']],
  },
  {
    mac: '52:54:00:10:00:02',
    hostname: 'pve2',
    ip: '10.0.0.12',
    profile: 'proxmox',
    cluster: 'lab',
    phases: [['image_download', 'failed', 'checksum mismatch']],
  },
  {
    mac: '52:54:00:10:00:03',
    hostname: 'k3s1',
    ip: '10.0.1.11',
    profile: 'linux-initramfs',
    cluster: 'edge',
    phases: [['deployed', 'completed']],
  },
  { mac: '52:54:00:10:00:04', hostname: 'spare', ip: '10.0.2.1' },
];
const seedFleet = (hp: TestHomeport) => seedNodes(hp, FLEET);

/** The hostnames in the node table, in order. */
const tableHosts = (html: string) =>
  [...html.matchAll(/<td data-label="Host" class="host"><a [^>]*>([^<]*)<\/a>/g)].map((m) => m[1]);

for (const kind of DATABASE_KINDS) {
  describe(`status page without JavaScript on ${kind}`, function () {
    this.timeout(30_000);
    let hp: TestHomeport;
    before(async () => {
      hp = await startTestHomeport({ kind });
      await seedFleet(hp);
      await insertCluster(hp, {
        name: 'lab',
        state: 'error',
        driver: 'proxmox',
        expected_nodes: 2,
        last_error: 'pvecm add: <b>timeout</b>',
      });
    });
    after(async () => hp?.stop());

    it('renders every node with its phase, progress, profile and cluster, failures first', async () => {
      const page = await hp.request('GET', '/monitoring');
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.match(/^text\/html/);
      expect(tableHosts(page.text)).to.deep.equal(['pve2', 'pve1', 'spare', 'k3s1']);
      expect(page.text).to.match(
        /<span class="phase-name">installation<\/span> <span class="badge status-in_progress">in_progress<\/span>\s*<progress max="100" value="63"/,
      );
      expect(page.text)
        .to.include('<td data-label="Profile">proxmox</td>')
        .and.include('<code>52:54:00:10:00:03</code>');
      expect(page.text).to.match(
        /<a class="chip state-failed" href="\/monitoring\?status&#x3D;failed" data-state="failed">failed <b>1<\/b><\/a>/,
      );
    });

    it('lists clusters from the clusters table and from nodes, with the last error escaped', async () => {
      const page = await hp.request('GET', '/monitoring');
      const clusters = page.text.slice(page.text.indexOf('<section class="clusters"'));
      expect(clusters).to.match(
        /<a href="\/monitoring\?cluster&#x3D;edge">edge<\/a>[\s\S]*not recorded[\s\S]*1 of 1 deployed/,
      );
      expect(clusters).to.match(
        /<a href="\/monitoring\?cluster&#x3D;lab">lab<\/a>[\s\S]*tone-failed">error<\/span> <small>proxmox<\/small>[\s\S]*0 of 2 deployed/,
      );
      expect(clusters).to.include('pvecm add: &lt;b&gt;timeout&lt;/b&gt;');
    });

    it('filters by status and cluster, and sorts, from the query string', async () => {
      expect(tableHosts((await hp.request('GET', '/monitoring?status=failed')).text)).to.deep.equal(['pve2']);
      expect(tableHosts((await hp.request('GET', '/monitoring?cluster=lab')).text)).to.deep.equal(['pve2', 'pve1']);
      expect(tableHosts((await hp.request('GET', '/monitoring?cluster=lab&status=deployed')).text)).to.deep.equal([]);
      expect(tableHosts((await hp.request('GET', '/monitoring?sort=hostname&dir=desc')).text)).to.deep.equal([
        'spare',
        'pve2',
        'pve1',
        'k3s1',
      ]);
      const filtered = await hp.request('GET', '/monitoring?cluster=edge&sort=ip&dir=asc');
      expect(filtered.text).to.include('<option value="edge" selected>edge</option>');
      expect(tableHosts(filtered.text)).to.deep.equal(['k3s1']);
      // The filter form keeps the sort; the empty result says why it is empty.
      expect(filtered.text).to.include('<input type="hidden" name="sort" value="ip">');
      expect((await hp.request('GET', '/monitoring?cluster=nowhere')).text).to.include('No nodes match these filters.');
    });

    it('serves the live part alone for updates', async () => {
      const fragment = await hp.request('GET', '/monitoring?status=failed&fragment=1');
      expect(fragment.text).not.to.include('<html');
      expect(fragment.text.trimStart()).to.match(/^<section class="summary"/);
      expect(tableHosts(fragment.text)).to.deep.equal(['pve2']);
    });

    it('shows a node page with its whole history, newest first, by id, MAC or hostname', async () => {
      for (const ref of ['2', '52-54-00-10-00-02', 'pve2', 'PVE2']) {
        const page = await hp.request('GET', `/monitoring/nodes/${ref}`);
        expect(page.status, ref).to.equal(200);
        expect(page.text).to.include('<h1>pve2 <small><code>52:54:00:10:00:02</code></small></h1>');
        const phases = [
          ...page.text.matchAll(/<div class="what"><b>([^<]+)<\/b> <span class="badge status-(\w+)">/g),
        ].map((m) => `${m[1]}:${m[2]}`);
        expect(phases).to.deep.equal(['image_download:failed']);
        expect(page.text).to.include('<div class="message">checksum mismatch</div>');
      }
    });

    it('answers an unknown node with an HTML 404', async () => {
      const page = await hp.request('GET', '/monitoring/nodes/999');
      expect(page.status).to.equal(404);
      expect(page.text).to.include('No such node');
    });
  });
}

for (const kind of DATABASE_KINDS) {
  describe(`status page: why nodes stopped, on ${kind}`, function () {
    this.timeout(30_000);
    let hp: TestHomeport;
    before(async () => (hp = await startTestHomeport({ kind })));
    after(async () => hp?.stop());

    it('shows the last message of failed and stalled nodes in the table, and no chip repeats itself', async () => {
      const ids = await seedNodes(hp, [
        {
          mac: '52:54:00:30:00:01',
          hostname: 'bad1',
          phases: [
            ['image_download', 'in_progress', '1.2 of 3 GiB'],
            ['image_download', 'failed', 'sha256 mismatch on rootfs.tar.zst'],
          ],
        },
        {
          mac: '52:54:00:30:00:02',
          hostname: 'bad2',
          phases: [
            ['installation', 'in_progress', 'unpacking'],
            ['failed', 'failed', 'disk /dev/sda not found'],
          ],
        },
        {
          mac: '52:54:00:30:00:03',
          hostname: 'slow1',
          phases: [['storage_discovery', 'in_progress', 'waiting for /dev/sdb']],
        },
        { mac: '52:54:00:30:00:04', hostname: 'fine1', phases: [['installation', 'in_progress', 'copying /usr']] },
      ]);
      await hp.homeport.nodes.update(ids.get('52:54:00:30:00:03')!, { reprovisionStatus: 'timeout' });
      const page = (await hp.request('GET', '/monitoring')).text;
      const reasons = Object.fromEntries(
        [...page.matchAll(/<tr id="node-\d+"[\s\S]*?<a [^>]*>([^<]*)<\/a>[\s\S]*?<\/tr>/g)].map((m) => [
          m[1],
          /<div class="reason[^"]*">([^<]*)<\/div>/.exec(m[0])?.[1] ?? null,
        ]),
      );
      expect(reasons).to.deep.equal({
        bad1: 'sha256 mismatch on rootfs.tar.zst',
        bad2: 'disk /dev/sda not found',
        slow1: 'waiting for /dev/sdb',
        fine1: null,
      });
      const chips = [...page.matchAll(/<a class="chip [^>]*>([^<]*) <b>/g)].map((m) => m[1]!.trim());
      expect(chips).to.include('failed').and.include('image_download · failed');
      expect(
        chips.filter((c) => /(\w+) · \1$/.test(c)),
        'a chip that says the same twice',
      ).to.deep.equal([]);
    });
  });
}

describe('status page escaping and headers', function () {
  this.timeout(30_000);
  let hp: TestHomeport;
  const MAC = '52:54:00:20:00:01';
  const SCRIPT = '<script>alert("owned")</script>';
  before(async () => {
    hp = await startTestHomeport();
    // The API refuses such a hostname; a node row can still hold one (older data, another writer), so the page must not trust it.
    const node = await hp.homeport.nodes.create(MAC, { hostname: `x${SCRIPT}`, cluster: 'lab' });
    await reportPhase(
      hp,
      MAC,
      'installation',
      'failed',
      `dd: ${SCRIPT} <img src=x onerror=alert(1)> "quoted" & 'single'`,
    );
    await hp.homeport.nodes.update(node.id, { profile: '"><svg onload=alert(1)>' });
    await insertCluster(hp, { name: 'lab', state: '<i>odd</i>', last_error: SCRIPT });
  });
  after(async () => hp?.stop());

  for (const path of [
    '/monitoring',
    '/monitoring/nodes/1',
    '/monitoring?fragment=1',
    '/monitoring/nodes/1?fragment=1',
  ]) {
    it(`escapes hostnames, messages and errors on ${path}`, async () => {
      const page = await hp.request('GET', path);
      expect(page.status).to.equal(200);
      // Only the page's own script tag, at most.
      expect(page.text.match(/<script>/g)?.length ?? 0).to.be.at.most(1);
      expect(page.text).not.to.include('alert("owned")</script>');
      expect(page.text).not.to.match(/<img|<svg|<i>/);
      expect(page.text).to.include('x&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;');
    });
  }

  it('shows messages escaped, quotes and ampersands included', async () => {
    const page = await hp.request('GET', '/monitoring/nodes/1');
    expect(page.text).to.include(
      '<div class="message">dd: &lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt; &lt;img src&#x3D;x onerror&#x3D;alert(1)&gt; &quot;quoted&quot; &amp; &#x27;single&#x27;</div>',
    );
  });

  it('sends a CSP that allows exactly the page’s own inline style and script', async () => {
    const page = await hp.request('GET', '/monitoring');
    const csp = page.headers.get('content-security-policy') ?? '';
    const inline = (tag: string) => page.text.match(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`))![1]!;
    const hash = (text: string) => crypto.createHash('sha256').update(text).digest('base64');
    expect(csp).to.include(`script-src 'sha256-${hash(inline('script'))}'`);
    expect(csp).to.include(`style-src 'sha256-${hash(inline('style'))}'`);
    expect(csp).to.include("default-src 'none'").and.include("frame-ancestors 'none'");
    expect(page.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(page.headers.get('cache-control')).to.equal('no-store');
  });
});

describe('event stream', function () {
  this.timeout(30_000);
  let hp: TestHomeport;
  const streams: EventStreamReader[] = [];
  const open = async (headers?: Record<string, string>) => {
    const stream = await openEventStream(hp.baseUrl + '/api/events', headers);
    streams.push(stream);
    return stream;
  };
  const MAC = '52:54:00:30:00:01';
  beforeEach(async () => {
    hp = await startTestHomeport({
      env: {
        HOMEPORT_MONITORING__MAXEVENTCLIENTS: '2',
        HOMEPORT_MONITORING__HEARTBEATMS: '1000',
        HOMEPORT_MONITORING__RETRYMS: '1500',
      },
    });
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    await hp?.stop();
  });

  it('opens with a retry hint, then sends each change as JSON: node and its new history entry', async () => {
    const stream = await open();
    expect(stream.status).to.equal(200);
    expect(stream.headers.get('content-type')).to.equal('text/event-stream; charset=utf-8');
    expect(stream.headers.get('cache-control')).to.equal('no-cache, no-transform');
    await stream.next((b) => b === 'retry: 1500');
    const [id] = (await seedNodes(hp, [{ mac: MAC, hostname: 'pve1', cluster: 'lab' }])).values();
    const created = dataOf(await stream.next((b) => b.startsWith('data: ')));
    expect(created).to.deep.include({ type: 'node', entry: null });
    expect(created.node).to.include({ id, mac: MAC, hostname: 'pve1', deployment_status: 'pending' });
    await reportPhase(hp, MAC, 'installation', 'in_progress', 'unpacking <base>');
    const phase = dataOf(await stream.next((b) => b.startsWith('data: ')));
    expect(phase.type).to.equal('phase');
    expect(phase.node).to.include({
      id,
      deployment_status: 'installation',
      phase_status: 'in_progress',
      overall_progress: 63,
    });
    expect(phase.entry).to.include({
      node_id: id,
      phase: 'installation',
      status: 'in_progress',
      message: 'unpacking <base>',
      applied: true,
      source: 'installer',
    });
    await hp.request('DELETE', `/api/nodes/${MAC}`, { admin: true });
    expect(dataOf(await stream.next((b) => b.startsWith('data: ')))).to.deep.equal({ type: 'node_deleted', id });
  });

  it('sends heartbeats while nothing happens', async () => {
    const stream = await open();
    await stream.next((b) => b === ': heartbeat', 3000);
  });

  it('bounds its clients (503 beyond), frees a place when one leaves, and keeps one listener on the service', async () => {
    const listeners = hp.homeport.nodes.events.listenerCount('change');
    const first = await open();
    await open();
    const refused = await hp.request('GET', '/api/events');
    expect(refused.status).to.equal(503);
    expect(refused.body).to.deep.equal({
      error: 'too_many_clients',
      detail: 'the event stream has its maximum number of clients; retry later',
    });
    expect(refused.headers.get('retry-after')).to.equal('10');
    expect(hp.homeport.nodes.events.listenerCount('change')).to.equal(listeners);
    first.close();
    const deadline = Date.now() + 5000;
    let third: EventStreamReader | null = null;
    while (!third && Date.now() < deadline) {
      const attempt = await open();
      if (attempt.status === 200) third = attempt;
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(third, 'a place freed within 5 s').not.to.equal(null);
  });

  it('ends open streams on shutdown instead of holding the server open', async () => {
    const stream = await open();
    await stream.next((b) => b.startsWith('retry:'));
    const started = Date.now();
    await hp.stop();
    expect(Date.now() - started).to.be.below(3000);
  });
});

describe('status page access with monitoring.requireAdmin', function () {
  this.timeout(30_000);
  let hp: TestHomeport;
  before(async () => {
    hp = await startTestHomeport({ env: { HOMEPORT_MONITORING__REQUIREADMIN: 'true' } });
    await seedNodes(hp, [{ mac: '52:54:00:40:00:01', hostname: 'pve1' }]);
  });
  after(async () => hp?.stop());
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(hp.baseUrl + path, { redirect: 'manual', headers });
  const login = (token: string, next = '/monitoring/nodes/1') =>
    fetch(hp.baseUrl + '/monitoring/login', {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, next }).toString(),
    });

  it('sends a browser without a session to the login form, and refuses the event stream', async () => {
    const page = await get('/monitoring/nodes/1?x=1');
    expect(page.status).to.equal(303);
    expect(page.headers.get('location')).to.equal('/monitoring/login?next=%2Fmonitoring%2Fnodes%2F1%3Fx%3D1');
    const form = await get('/monitoring/login?next=%2Fmonitoring%2Fnodes%2F1');
    expect(form.status).to.equal(200);
    expect(await form.text()).to.include('<input type="hidden" name="next" value="/monitoring/nodes/1">');
    const events = await get('/api/events');
    expect(events.status).to.equal(401);
    expect(((await events.json()) as { error: string }).error).to.equal('unauthorized');
  });

  it('accepts the admin token as a bearer, and nothing else', async () => {
    expect((await get('/monitoring', { authorization: `Bearer ${hp.adminToken}` })).status).to.equal(200);
    expect((await get('/monitoring', { authorization: 'Bearer wrong' })).status).to.equal(303);
    const stream = await openEventStream(hp.baseUrl + '/api/events', { authorization: `Bearer ${hp.adminToken}` });
    expect(stream.status).to.equal(200);
    stream.close();
  });

  it('logs in with the token: an HttpOnly SameSite=Strict session cookie that is not the token', async () => {
    const wrong = await login('not-the-token');
    expect(wrong.status).to.equal(401);
    expect(await wrong.text()).to.include('That is not the admin token.');
    expect(wrong.headers.get('set-cookie')).to.equal(null);

    const ok = await login(hp.adminToken);
    expect(ok.status).to.equal(303);
    expect(ok.headers.get('location')).to.equal('/monitoring/nodes/1');
    const setCookie = ok.headers.get('set-cookie') ?? '';
    expect(setCookie).to.match(/^homeport_monitoring=\d+\.[\w-]{43}; path=\/; expires=.*; samesite=strict; httponly$/i);
    expect(setCookie).not.to.include(hp.adminToken);
    const cookie = setCookie.split(';')[0]!;
    const page = await get('/monitoring', { cookie });
    expect(page.status).to.equal(200);
    expect(await page.text()).to.include('action="/monitoring/logout"');
    const stream = await openEventStream(hp.baseUrl + '/api/events', { cookie });
    expect(stream.status).to.equal(200);
    stream.close();

    const logout = await fetch(hp.baseUrl + '/monitoring/logout', {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie },
    });
    expect(logout.status).to.equal(303);
    expect(logout.headers.get('set-cookie')).to.match(/^homeport_monitoring=;/);
  });

  it('never redirects off the page after login', async () => {
    const ok = await login(hp.adminToken, '//evil.example/');
    expect(ok.headers.get('location')).to.equal('/monitoring');
  });
});

describe('status page at fleet size: the node table is paged', function () {
  this.timeout(60_000);
  let hp: TestHomeport;
  const COUNT = 230;
  /** The page's link with rel=prev or rel=next, decoded (Handlebars escapes = and &), or null. */
  const link = (html: string, rel: 'prev' | 'next') =>
    new RegExp(`rel="${rel}" href="([^"]*)"`)
      .exec(html)?.[1]
      ?.replace(/&#x3D;/g, '=')
      .replace(/&amp;/g, '&') ?? null;
  before(async () => {
    hp = await startTestHomeport();
    for (let i = 0; i < COUNT; i++) {
      const mac = `52:54:00:30:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
      await hp.homeport.nodes.create(mac, { hostname: `fleet${String(i).padStart(3, '0')}` });
    }
  });
  after(async () => hp?.stop());

  it('shows 100 rows a page with the range and links to the neighbours, and every node on exactly one page', async () => {
    const byHost = '/monitoring?sort=hostname&dir=asc';
    const pages = [
      { path: byHost, rows: 100, range: '1–100 of 230', prev: null, next: `${byHost}&page=2` },
      { path: `${byHost}&page=2`, rows: 100, range: '101–200 of 230', prev: byHost, next: `${byHost}&page=3` },
      { path: `${byHost}&page=3`, rows: 30, range: '201–230 of 230', prev: `${byHost}&page=2`, next: null },
    ];
    const seen: string[] = [];
    for (const { path, rows, range, prev, next } of pages) {
      const page = await hp.request('GET', path);
      expect(page.status).to.equal(200);
      const hosts = tableHosts(page.text) as string[];
      expect(hosts, path).to.have.length(rows);
      seen.push(...hosts);
      expect(page.text).to.include(`<span class="range">${range}</span>`);
      expect({ prev: link(page.text, 'prev'), next: link(page.text, 'next') }, path).to.deep.equal({ prev, next });
    }
    expect(new Set(seen).size).to.equal(COUNT);
    expect(seen).to.deep.equal([...seen].sort());
    // The summary still counts every node, not only the page's.
    expect((await hp.request('GET', `${byHost}&page=3`)).text).to.include(`<b id="total-count">${COUNT}</b>`);
  });

  it('keeps the page in the live fragment link, and answers a page past the end with the last one', async () => {
    const page = await hp.request('GET', '/monitoring?page=2');
    expect(page.text).to.include('data-fragment="/monitoring?page&#x3D;2&amp;fragment&#x3D;1"');
    const fragment = await hp.request('GET', '/monitoring?page=2&fragment=1');
    expect(tableHosts(fragment.text)).to.have.length(100);
    const past = await hp.request('GET', '/monitoring?page=50');
    expect(past.text).to.include('<span class="range">201–230 of 230</span>');
  });
});
