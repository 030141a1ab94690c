import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { Registry } from 'prom-client';
import { createDhcpMetrics } from '../../server/dhcp/metrics.js';
import { freePort } from '../helpers/ports.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { reportPhase, sampleKey, scrape, seedNodes } from './helpers.js';

const A = '52:54:00:50:00:01';
const B = '52:54:00:50:00:02';

describe('metrics after known traffic', function () {
  this.timeout(30_000);
  let hp: TestHomeport;
  beforeEach(async () => (hp = await startTestHomeport()));
  afterEach(async () => hp?.stop());

  /** How much each sample moved between two scrapes (absent counts as 0). */
  const delta = (
    before: Map<string, number>,
    after: Map<string, number>,
    name: string,
    labels: Record<string, string> = {},
  ) => {
    const key = sampleKey(name, labels);
    return (after.get(key) ?? 0) - (before.get(key) ?? 0);
  };

  it('counts phase reports by phase and status, applied or not, and HTTP requests by route', async () => {
    await seedNodes(hp, [{ mac: A }, { mac: B }]);
    const before = await scrape(hp);
    await reportPhase(hp, A, 'installation', 'in_progress');
    await reportPhase(hp, B, 'installation', 'in_progress');
    await reportPhase(hp, A, 'installation', 'in_progress'); // duplicate: recorded, counted
    await reportPhase(hp, B, 'installation', 'failed', 'disk not found');
    await reportPhase(hp, A, 'post_install', 'completed');
    // A history event that is not an install phase is not a phase report.
    await hp.homeport.nodes.recordEvent({ mac: A }, { name: 'dhcp_discover', source: 'dhcp' });
    for (let i = 0; i < 3; i++) expect((await hp.request('GET', '/monitoring')).status).to.equal(200);
    expect((await hp.request('GET', '/monitoring/nodes/999')).status).to.equal(404);
    const after = await scrape(hp);

    const phases = (phase: string, status: string) =>
      delta(before, after, 'homeport_phase_reports_total', { phase, status });
    expect(phases('installation', 'in_progress')).to.equal(3);
    expect(phases('installation', 'failed')).to.equal(1);
    expect(phases('post_install', 'completed')).to.equal(1);
    expect(phases('installation', 'completed')).to.equal(0);
    expect([...after.keys()].filter((k) => k.includes('dhcp_discover'))).to.deep.equal([]);

    const requests = (route: string, method: string, status: string) =>
      delta(before, after, 'homeport_http_requests_total', { route, method, status });
    expect(requests('/api/status/phase', 'POST', '200')).to.equal(5);
    expect(requests('/monitoring', 'GET', '200')).to.equal(3);
    expect(requests('/monitoring/nodes/:id', 'GET', '404')).to.equal(1);
    expect(requests('/metrics', 'GET', '200')).to.equal(1); // the first scrape
    expect(
      delta(before, after, 'homeport_http_request_duration_seconds_count', { route: '/monitoring', method: 'GET' }),
    ).to.equal(3);
  });

  it('counts nodes by phase and status, and by reprovision status, from the store', async () => {
    await seedNodes(hp, [
      { mac: A, phases: [['installation', 'in_progress']] },
      { mac: B, phases: [['installation', 'failed']] },
      { mac: '52:54:00:50:00:03', phases: [['installation', 'in_progress']] },
      { mac: '52:54:00:50:00:04' },
    ]);
    await hp.homeport.nodes.update(1, { reprovisionStatus: 'in_progress' });
    const samples = await scrape(hp);
    const nodes = [...samples].filter(([k]) => k.startsWith('homeport_nodes{'));
    expect(Object.fromEntries(nodes)).to.deep.equal({
      'homeport_nodes{phase="installation",status="failed"}': 1,
      'homeport_nodes{phase="installation",status="in_progress"}': 2,
      'homeport_nodes{phase="pending",status="none"}': 1,
    });
    expect(samples.get('homeport_nodes_reprovision{status="in_progress"}')).to.equal(1);
    expect(samples.get('homeport_nodes_reprovision{status="none"}')).to.equal(3);

    // A phase nobody is in any more disappears instead of keeping its last count.
    await hp.request('DELETE', `/api/nodes/${B}`, { admin: true });
    expect((await scrape(hp)).has('homeport_nodes{phase="installation",status="failed"}')).to.equal(false);
  });

  it('exposes the watcher, cluster and SSH metrics at zero, and moves them exactly as recorded', async () => {
    const before = await scrape(hp);
    for (const [name, labels] of [
      ['homeport_watcher_ticks_total', { result: 'ok' }],
      ['homeport_watcher_ticks_total', { result: 'error' }],
      ['homeport_cluster_formations_total', { result: 'formed' }],
      ['homeport_cluster_formations_total', { result: 'failed' }],
      ['homeport_cluster_formations_total', { result: 'timeout' }],
      ['homeport_ssh_errors_total', { kind: 'timeout' }],
      ['homeport_watcher_tick_seconds_count', {}],
    ] as const) {
      expect(before.get(sampleKey(name, labels)), `${name} ${JSON.stringify(labels)}`).to.equal(0);
    }
    const { metrics } = hp.homeport;
    metrics.recordWatcherTick('ok', 0.25);
    metrics.recordWatcherTick('ok', 0.5);
    metrics.recordWatcherTick('error', 2);
    metrics.recordClusterFormation('formed');
    metrics.recordSshError('timeout');
    metrics.recordSshError('timeout');
    const after = await scrape(hp);
    expect(delta(before, after, 'homeport_watcher_ticks_total', { result: 'ok' })).to.equal(2);
    expect(delta(before, after, 'homeport_watcher_ticks_total', { result: 'error' })).to.equal(1);
    expect(delta(before, after, 'homeport_watcher_tick_seconds_count')).to.equal(3);
    expect(delta(before, after, 'homeport_watcher_tick_seconds_sum')).to.equal(2.75);
    expect(delta(before, after, 'homeport_watcher_tick_seconds_bucket', { le: '0.5' })).to.equal(2);
    expect(delta(before, after, 'homeport_cluster_formations_total', { result: 'formed' })).to.equal(1);
    expect(delta(before, after, 'homeport_cluster_formations_total', { result: 'failed' })).to.equal(0);
    expect(delta(before, after, 'homeport_ssh_errors_total', { kind: 'timeout' })).to.equal(2);
  });

  it('reports database reachability on /healthz', async () => {
    const ok = await hp.request('GET', '/healthz');
    expect(ok.status).to.equal(200);
    expect(ok.body).to.include({ status: 'ok', database: 'ok' });
    await hp.homeport.db.knex.destroy();
    const down = await hp.request('GET', '/healthz');
    expect(down.status).to.equal(503);
    expect(down.body.status).to.equal('unhealthy');
    // Scraping still works with the database away: the node gauges are left out.
    const samples = await scrape(hp);
    expect([...samples.keys()].some((k) => k.startsWith('homeport_nodes{'))).to.equal(false);
    expect(
      samples.get(sampleKey('homeport_http_requests_total', { route: '/healthz', method: 'GET', status: '503' })),
    ).to.equal(1);
  });
});

/**
 * prom-client's standard Node.js gauges that end in _total (stock Node.js dashboards
 * query them by these names, so they stay although promtool would not name a gauge so).
 */
const PROM_CLIENT_STANDARD_TOTAL_GAUGES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

describe('metric names', function () {
  this.timeout(30_000);
  let hp: TestHomeport;
  before(
    async () =>
      (hp = await startTestHomeport({
        env: {
          HOMEPORT_TFTP__ENABLED: 'true',
          HOMEPORT_TFTP__HOST: '127.0.0.1',
          HOMEPORT_TFTP__PORT: String(await freePort()),
        },
      })),
  );
  after(async () => hp?.stop());

  it("process and Node.js metrics have prom-client's standard names, so stock dashboards work", async () => {
    const scrapeNames = async () => new Set([...(await scrape(hp)).keys()].map((k) => k.replace(/\{.*$/, '')));
    let names = await scrapeNames();
    // The GC histogram has samples only once a collection was observed since this server's registry
    // started: make the young generation collect (bounded), as any running server soon does.
    for (let i = 0; i < 20 && !names.has('nodejs_gc_duration_seconds_count'); i++) {
      const garbage: object[] = [];
      for (let k = 0; k < 200_000; k++) garbage.push({ k });
      garbage.length = 0;
      await new Promise((r) => setTimeout(r, 100));
      names = await scrapeNames();
    }
    for (const standard of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_gc_duration_seconds_count',
    ]) {
      expect(names.has(standard), standard).to.equal(true);
    }
    expect(
      [...names].filter((n) => n.startsWith('homeport_process_') || n.startsWith('homeport_nodejs_')),
    ).to.deep.equal([]);
  });

  it("every metric passes promtool check metrics (Prometheus' naming rules)", async () => {
    await seedNodes(hp, [{ mac: A, phases: [['installation', 'in_progress']] }]);
    expect((await hp.request('GET', '/monitoring')).status).to.equal(200);
    // DHCP needs an interface (its suites run in namespaces); its metrics are checked from their own registry.
    const dhcp = new Registry();
    createDhcpMetrics(dhcp);
    const exposition = (await (await fetch(`${hp.baseUrl}/metrics`)).text()) + (await dhcp.metrics());
    const check = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8', timeout: 10_000 });
    expect(check.error, 'promtool (Debian package prometheus) runs').to.equal(undefined);
    const problems = `${check.stdout}${check.stderr}`
      .split('\n')
      .filter((line) => line.trim() !== '')
      .filter(
        (line) =>
          !PROM_CLIENT_STANDARD_TOTAL_GAUGES.some((name) =>
            line.startsWith(`${name} non-counter metrics should not have "_total" suffix`),
          ),
      );
    expect(problems).to.deep.equal([]);
    expect(exposition).to.match(/^homeport_dhcp_malformed_total 0$/m);
  });
});
