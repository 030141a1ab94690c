import { expect } from 'chai';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { dataOf, openEventStream, seedNodes } from './helpers.js';

const SCRIPT = '<script>alert("owned")</script>';
const ESCAPED = '&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;';

/** The jobs section of a page (up to the clusters that follow it). */
const jobsSection = (html: string) =>
  html.slice(html.indexOf('<section class="jobs"'), html.indexOf('<section class="clusters"'));

describe('jobs on the status page', function () {
  this.timeout(30_000);
  let hp: TestHomeport;
  const ids = { imported: 0, scheduled: 0, failed: 0 };

  async function createJob(body: Record<string, unknown>): Promise<number> {
    const res = await hp.request('POST', '/api/jobs', { admin: true, body });
    if (res.status !== 202 && res.status !== 201) throw new Error(`creating a job: ${res.status} ${res.text}`);
    return res.body.job.id as number;
  }
  async function settle(id: number): Promise<string> {
    const job = await hp.homeport.reprovisioning.jobs.settled(id, 10_000);
    return job?.status ?? 'missing';
  }

  before(async () => {
    hp = await startTestHomeport();
    await seedNodes(hp, [{ mac: '52:54:00:50:00:01', hostname: 'pve1' }]);
    // One good row, one whose key is hostile: the rejected row lands in the log with its key.
    const file = JSON.stringify({
      nodes: { '52:54:00:50:00:02': { hostname: 'pve2', ip: '10.0.0.12' }, [SCRIPT]: { hostname: 'evil' } },
    });
    ids.imported = await createJob({ type: 'import_nodes', params: { format: 'json', content: file } });
    // Not JSON: the parser's error quotes the start of the content.
    ids.failed = await createJob({
      type: 'import_nodes',
      params: { format: 'json', content: `${SCRIPT} <img src=x onerror=alert(1)>` },
    });
    ids.scheduled = await createJob({
      type: 'power',
      params: { nodes: ['pve1'], action: 'off' },
      schedule_at: Date.now() + 3_600_000,
    });
    expect(await settle(ids.imported)).to.equal('completed');
    expect(await settle(ids.failed)).to.equal('failed');
  });
  after(async () => hp?.stop());

  it('lists scheduled jobs and the last failures with their error, each linking to its page', async () => {
    const page = await hp.request('GET', '/monitoring');
    expect(page.status).to.equal(200);
    const jobs = jobsSection(page.text);
    expect(jobs).to.match(
      new RegExp(
        `<tr id="job-${ids.scheduled}" data-job="${ids.scheduled}">\\s*<td data-label="Job"><a href="/monitoring/jobs/${ids.scheduled}">#${ids.scheduled} power</a></td>\\s*<td data-label="State"><span class="badge tone-neutral">scheduled</span>`,
      ),
    );
    expect(jobs).to.match(
      /<td data-label="Target">1 node<\/td>\s*<td data-label="When"><time datetime="[^"]+" title="[^"]+">runs in (59m \d+s|1h)<\/time>/,
    );
    const failures = jobs.slice(jobs.indexOf('<h3>Last failures'));
    expect(failures).to.include(
      `<a href="/monitoring/jobs/${ids.failed}">#${ids.failed} import_nodes</a> <span class="badge tone-failed">failed</span> <span class="error-text">not JSON: `,
    );
    expect(failures).to.include('&quot;&lt;script&gt;al&quot;... is not valid JSON</span>');
    // A completed job is neither running nor failed: not listed.
    expect(jobs).not.to.include(`/monitoring/jobs/${ids.imported}"`);
  });

  it("shows a job page: status, params without the file's content, stages, result and the escaped console log", async () => {
    const page = await hp.request('GET', `/monitoring/jobs/${ids.imported}`);
    expect(page.status).to.equal(200);
    expect(page.text).to.include(`<h1>Job #${ids.imported} <small>import_nodes</small></h1>`);
    expect(page.text).to.include('<span class="badge tone-ok">completed</span>');
    expect(page.text).to.include('<div><dt>Attempts</dt><dd>1 of 1</dd></div>');
    expect(page.text).to.match(/<div><dt>content<\/dt><dd><code>\(\d+ characters\)<\/code><\/dd><\/div>/);
    expect(page.text).not.to.include('pve2&quot;');
    const stages = [...page.text.matchAll(/<tr class="stage-(\w+)">\s*<td data-label="Stage">([^<]+)<\/td>/g)].map(
      (m) => `${m[2]}:${m[1]}`,
    );
    expect(stages.length).to.be.greaterThan(0);
    expect(
      stages.every((s) => s.endsWith(':completed')),
      stages.join(' '),
    ).to.equal(true);
    expect(page.text).to.match(/<pre class="result">\{\n {2}&quot;created&quot;: 1,/);
    const log = page.text.match(/<pre class="log">([\s\S]*?)<\/pre>/)?.[1] ?? '';
    expect(log).to.include(`&quot;${ESCAPED}&quot;: rejected (mac: must be a MAC address`);
    expect(log).to.match(/52:54:00:50:00:02: created/);
  });

  it('shows the error of a failed job escaped, and only the page’s own script tag anywhere', async () => {
    for (const path of [
      '/monitoring',
      '/monitoring?fragment=1',
      `/monitoring/jobs/${ids.failed}`,
      `/monitoring/jobs/${ids.imported}`,
      `/monitoring/jobs/${ids.imported}?fragment=1`,
    ]) {
      const page = await hp.request('GET', path);
      expect(page.status, path).to.equal(200);
      expect(page.text.match(/<script>/g)?.length ?? 0, path).to.be.at.most(1);
      expect(page.text, path).not.to.match(/<img|alert\("owned"\)<\/script>/);
    }
    const failed = await hp.request('GET', `/monitoring/jobs/${ids.failed}`);
    expect(failed.text).to.match(/<p class="error-text job-error" role="alert">not JSON: [^<]*&lt;script[^<]*<\/p>/);
    expect(failed.text).to.include('<span class="badge tone-failed">failed</span>');
  });

  it('shows a scheduled job as pending with its stages not started', async () => {
    const page = await hp.request('GET', `/monitoring/jobs/${ids.scheduled}`);
    expect(page.text).to.include('<span class="badge tone-neutral">scheduled</span>');
    expect(page.text).to.include('<div><dt>Status</dt><dd>pending</dd></div>');
    expect(page.text).to.match(/<div><dt>action<\/dt><dd><code>off<\/code><\/dd><\/div>/);
    expect(page.text).to.match(/<tr class="stage-pending">/);
    expect(page.text).to.include('Nothing logged yet.');
  });

  it('serves the job page’s live part alone for updates, marked busy only while the job moves', async () => {
    const fragment = await hp.request('GET', `/monitoring/jobs/${ids.imported}?fragment=1`);
    expect(fragment.text).not.to.include('<html');
    expect(fragment.text.trimStart()).to.match(/^<h1>Job #/);
    expect(fragment.text).not.to.include('data-busy');
    const full = await hp.request('GET', `/monitoring/jobs/${ids.imported}`);
    expect(full.text).to.include(
      `<main id="live" data-fragment="/monitoring/jobs/${ids.imported}?fragment&#x3D;1" data-job="${ids.imported}">`,
    );
  });

  it('answers an unknown job with an HTML 404 and a non-numeric id with a 400', async () => {
    const missing = await hp.request('GET', '/monitoring/jobs/999999');
    expect(missing.status).to.equal(404);
    expect(missing.headers.get('content-type')).to.match(/^text\/html/);
    expect(missing.text).to.include('No such job');
    const bad = await hp.request('GET', `/monitoring/jobs/${encodeURIComponent('x<b>')}`);
    expect(bad.status).to.equal(400);
    expect(bad.text).to.include('Not a job id').and.include('not x&lt;b&gt;');
  });

  it('sends job changes on the event stream (created, cancelled)', async () => {
    const stream = await openEventStream(hp.baseUrl + '/api/events');
    try {
      const id = await createJob({
        type: 'power',
        params: { nodes: ['pve1'], action: 'on' },
        schedule_at: Date.now() + 3_600_000,
      });
      const created = dataOf(await stream.next((b) => b.startsWith('data: ') && b.includes('"type":"job"')));
      expect(created.job).to.include({ id, type: 'power', status: 'pending' });
      expect((await hp.request('POST', `/api/jobs/${id}/cancel`, { admin: true })).status).to.be.oneOf([200, 202]);
      const cancelled = dataOf(await stream.next((b) => b.startsWith('data: ') && b.includes('"type":"job"')));
      expect(cancelled.job).to.include({ id, status: 'cancelled' });
    } finally {
      stream.close();
    }
  });
});

describe('jobs on the status page with monitoring.requireAdmin', function () {
  this.timeout(30_000);
  let hp: TestHomeport;
  before(async () => {
    hp = await startTestHomeport({ env: { HOMEPORT_MONITORING__REQUIREADMIN: 'true' } });
  });
  after(async () => hp?.stop());

  it('sends a browser without a session to the login form, and lets the admin token in', async () => {
    const denied = await fetch(hp.baseUrl + '/monitoring/jobs/1', { redirect: 'manual' });
    expect(denied.status).to.equal(303);
    expect(denied.headers.get('location')).to.equal('/monitoring/login?next=%2Fmonitoring%2Fjobs%2F1');
    const allowed = await fetch(hp.baseUrl + '/monitoring/jobs/1', {
      redirect: 'manual',
      headers: { authorization: `Bearer ${hp.adminToken}` },
    });
    expect(allowed.status).to.equal(404);
  });
});
