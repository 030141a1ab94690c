import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { freePort } from '../helpers/ports.js';
import { launchBrowser, screenshotPath, type TestBrowser } from './browser.js';
import { insertCluster, reportPhase, seedNodes, type SeedNode } from './helpers.js';

/** A small fleet in every state the page shows; also what the README screenshot shows. */
const FLEET: SeedNode[] = [
  {
    mac: '52:54:00:a0:00:01',
    hostname: 'pve1',
    ip: '10.0.10.11',
    profile: 'proxmox',
    cluster: 'lab',
    phases: [['deployed', 'completed']],
  },
  {
    mac: '52:54:00:a0:00:02',
    hostname: 'pve2',
    ip: '10.0.10.12',
    profile: 'proxmox',
    cluster: 'lab',
    phases: [['deployed', 'completed']],
  },
  {
    mac: '52:54:00:a0:00:03',
    hostname: 'pve3',
    ip: '10.0.10.13',
    profile: 'proxmox',
    cluster: 'lab',
    phases: [['installation', 'in_progress', 'unpacking base system']],
  },
  {
    mac: '52:54:00:a0:00:04',
    hostname: 'pve4',
    ip: '10.0.10.14',
    profile: 'proxmox',
    cluster: 'lab',
    phases: [['image_download', 'failed', 'sha256 mismatch for proxmox-ve_8.4.iso']],
  },
  {
    mac: '52:54:00:b0:00:01',
    hostname: 'k3s1',
    ip: '10.0.20.11',
    profile: 'linux-initramfs',
    cluster: 'edge',
    phases: [['post_install', 'completed']],
  },
  {
    mac: '52:54:00:b0:00:02',
    hostname: 'k3s2',
    ip: '10.0.20.12',
    profile: 'linux-initramfs',
    cluster: 'edge',
    phases: [['network_config', 'in_progress']],
  },
  {
    mac: '52:54:00:b0:00:03',
    hostname: 'k3s3',
    ip: '10.0.20.13',
    profile: 'linux-initramfs',
    cluster: 'edge',
    phases: [['ipxe_boot', 'completed']],
  },
  { mac: '52:54:00:c0:00:01', hostname: 'spare1', ip: '10.0.30.21' },
];
const PVE3 = '52:54:00:a0:00:03';
const K3S3 = '52:54:00:b0:00:03';

/**
 * The few DOM members the in-page checks use: the project compiles without DOM
 * types. In-page code must be functions, not strings: the page's CSP forbids eval.
 */
interface PageGlobals {
  document: {
    querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
    getElementById(id: string): { textContent: string | null } | null;
    cookie: string;
    documentElement: { scrollWidth: number; clientWidth: number };
  };
  getComputedStyle(element: unknown): { display: string };
  homeportMark?: number;
}
const rowText = (page: Page, id: number) => page.locator(`#node-${id}`).innerText();
const countIs = (page: Page, selector: string, count: number) =>
  page.waitForFunction(
    ([sel, n]) => (globalThis as unknown as PageGlobals).document.querySelectorAll(sel).length === n,
    [selector, count] as const,
  );
const hostsInTable = (page: Page) => page.locator('table.nodes tbody td.host').allInnerTexts();

/** Bounded wait for a row's text to contain `text`, without reloading the page. */
async function waitForRow(page: Page, id: number, text: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(
    ([rowId, wanted]) =>
      (globalThis as unknown as PageGlobals).document.getElementById(`node-${rowId}`)?.textContent?.includes(wanted) ??
      false,
    [id, text] as const,
    { timeout },
  );
}

/** Marks the document; a reload loses the mark. */
const markDocument = (page: Page) => page.evaluate(() => ((globalThis as unknown as PageGlobals).homeportMark = 42));
const documentMark = (page: Page) => page.evaluate(() => (globalThis as unknown as PageGlobals).homeportMark);

describe('status page in a browser', function () {
  this.timeout(60_000);
  // One chromium for the suite: starting it is most of the suite's time.
  let browser: TestBrowser;
  before(async () => (browser = await launchBrowser()));
  after(async () => browser?.close());

  describe('live page', function () {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-browser-'));
    let port: number;
    let hp: TestHomeport;
    let page: Page;
    let ids: Map<string, number>;
    // One data dir for every server of this suite, so a restart keeps the nodes and tokens.
    const start = (onPort: number) =>
      startTestHomeport({
        env: { HOMEPORT_DATADIR: dataDir, HOMEPORT_HTTP__PORT: String(onPort), HOMEPORT_MONITORING__RETRYMS: '1000' },
      });

    before(async () => {
      port = await freePort();
      hp = await start(port);
      ids = await seedNodes(hp, FLEET);
      await hp.homeport.nodes.update(ids.get(PVE3)!, { reprovisionStatus: 'in_progress' });
      await insertCluster(hp, {
        name: 'lab',
        driver: 'proxmox',
        state: 'error',
        expected_nodes: 4,
        last_error: 'pve4 failed image_download; formation waits for every node',
      });
      await insertCluster(hp, { name: 'edge', driver: 'k3s', state: 'pending', expected_nodes: 3 });
      page = await browser.context.newPage();
    });
    after(async () => {
      await page?.close();
      await hp?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    it('lists the seeded nodes, failures first, and goes live', async () => {
      await page.goto(`${hp.baseUrl}/monitoring`);
      expect(await hostsInTable(page)).to.deep.equal([
        'pve4',
        'k3s1',
        'pve3',
        'k3s2',
        'k3s3',
        'spare1',
        'pve1',
        'pve2',
      ]);
      expect(await rowText(page, ids.get(PVE3)!))
        .to.include('installation')
        .and.include('in_progress')
        .and.include('10.0.10.13');
      // The inline script ran (the CSP allows it) and the event stream is open.
      await page.locator('#live-status[data-state="on"]').waitFor();
      expect(await page.locator('.clusters').innerText()).to.include('pve4 failed image_download');
      await page.screenshot({ path: screenshotPath('monitoring-desktop.png'), fullPage: true });
      if (process.env.HOMEPORT_UPDATE_DOCS_SCREENSHOT === '1')
        fs.copyFileSync(screenshotPath('monitoring-desktop.png'), path.resolve('docs/monitoring.png'));
    });

    it('shows a phase posted over the API without a reload', async () => {
      await markDocument(page);
      const id = ids.get(PVE3)!;
      await reportPhase(hp, PVE3, 'post_install', 'in_progress', 'running post-install hooks');
      await waitForRow(page, id, 'post_install');
      expect(await page.locator(`#node-${id} progress`).getAttribute('value')).to.equal('70');
      expect(await documentMark(page)).to.equal(42);
    });

    it('inserts a node that registers while the page is open', async () => {
      await markDocument(page);
      await seedNodes(hp, [{ mac: '52:54:00:c0:00:02', hostname: 'spare2', ip: '10.0.30.22' }]);
      await page.waitForFunction(() =>
        Array.from((globalThis as unknown as PageGlobals).document.querySelectorAll('td.host')).some(
          (td) => td.textContent === 'spare2',
        ),
      );
      expect(await page.locator('#total-count').innerText()).to.equal(String(FLEET.length + 1));
      expect(await documentMark(page)).to.equal(42);
    });

    it('filters by status and cluster, and sorts by a header', async () => {
      await page.goto(`${hp.baseUrl}/monitoring`);
      await page.selectOption('select[name="status"]', 'installing');
      await page.selectOption('select[name="cluster"]', 'edge');
      await Promise.all([
        page.waitForURL(/status=installing&cluster=edge/),
        page.click('form.filters button[type="submit"]'),
      ]);
      expect(await hostsInTable(page)).to.deep.equal(['k3s1', 'k3s2', 'k3s3']); // furthest along first
      await Promise.all([page.waitForURL(/sort=hostname&dir=asc/), page.click('th a:text("Host")')]);
      expect(await hostsInTable(page)).to.deep.equal(['k3s1', 'k3s2', 'k3s3']);
      await Promise.all([page.waitForURL(/sort=hostname&dir=desc/), page.click('th a:text("Host")')]);
      expect(await hostsInTable(page)).to.deep.equal(['k3s3', 'k3s2', 'k3s1']);
      // A failed chip filters to failures; the filtered view stays live too.
      await page.goto(`${hp.baseUrl}/monitoring`);
      await Promise.all([page.waitForURL(/status=failed/), page.click('a.chip[data-state="failed"]')]);
      expect(await hostsInTable(page)).to.deep.equal(['pve4']);
      await page.locator('#live-status[data-state="on"]').waitFor();
      await reportPhase(hp, K3S3, 'config_download', 'failed', 'HTTP 404 for config');
      await countIs(page, 'td.host', 2);
      expect(await hostsInTable(page)).to.deep.equal(['pve4', 'k3s3']);
    });

    it('opens a node page whose timeline follows new reports', async () => {
      await page.goto(`${hp.baseUrl}/monitoring`);
      await Promise.all([page.waitForURL(/\/monitoring\/nodes\/\d+$/), page.click('td.host a:text("pve3")')]);
      expect(await page.locator('h1').innerText()).to.include('pve3');
      expect(await page.locator('.timeline li').count()).to.equal(2);
      await page.locator('#live-status[data-state="on"]').waitFor();
      await reportPhase(hp, PVE3, 'post_install', 'completed', 'hooks done');
      await countIs(page, '.timeline li', 3);
      expect(await page.locator('.timeline li').first().innerText())
        .to.include('post_install')
        .and.include('hooks done');
    });

    it('is readable on a phone: rows become cards with labels', async () => {
      const phone = await browser.context.newPage();
      try {
        await phone.setViewportSize({ width: 390, height: 844 });
        await phone.goto(`${hp.baseUrl}/monitoring`);
        const display = await phone
          .locator('table.nodes tbody tr')
          .first()
          .evaluate((tr) => (globalThis as unknown as PageGlobals).getComputedStyle(tr).display);
        expect(display).to.equal('grid');
        const overflow = await phone.evaluate(() => {
          const root = (globalThis as unknown as PageGlobals).document.documentElement;
          return root.scrollWidth - root.clientWidth;
        });
        expect(overflow, 'no horizontal scrolling').to.be.at.most(0);
        await phone.screenshot({ path: screenshotPath('monitoring-phone.png'), fullPage: true });
      } finally {
        await phone.close();
      }
    });

    it('shows a job created over the API without a reload, and opens its page', async () => {
      await page.goto(`${hp.baseUrl}/monitoring`);
      await page.locator('#live-status[data-state="on"]').waitFor();
      expect(await page.locator('section.jobs').innerText()).to.include('No jobs running or scheduled.');
      await markDocument(page);
      const created = await hp.request('POST', '/api/jobs', {
        admin: true,
        body: { type: 'power', params: { nodes: ['spare1'], action: 'off' }, schedule_at: Date.now() + 3_600_000 },
      });
      expect(created.status, created.text).to.equal(202);
      const id = created.body.job.id as number;
      await page.locator(`#job-${id}`).waitFor();
      expect(await page.locator(`#job-${id}`).innerText())
        .to.include('power')
        .and.include('scheduled')
        .and.include('runs in');
      expect(await documentMark(page)).to.equal(42);
      await Promise.all([page.waitForURL(new RegExp(`/monitoring/jobs/${id}$`)), page.click(`#job-${id} a`)]);
      expect(await page.locator('h1').innerText()).to.equal(`Job #${id} power`);
      await hp.request('POST', `/api/jobs/${id}/cancel`, { admin: true });
      await page.locator('.current .badge:text("cancelled")').waitFor();
    });

    it('re-fetches the state when it reconnects after a server restart', async () => {
      await page.goto(`${hp.baseUrl}/monitoring`);
      await page.locator('#live-status[data-state="on"]').waitFor();
      await markDocument(page);
      await hp.stop();
      await page.locator('#live-status[data-state="off"]').waitFor();
      // A change the page cannot hear about: made through another instance on the same data.
      const other = await start(await freePort());
      await reportPhase(other, PVE3, 'cluster_formation', 'in_progress', 'joining lab');
      await other.stop();
      hp = await start(port);
      await waitForRow(page, ids.get(PVE3)!, 'cluster_formation');
      await page.locator('#live-status[data-state="on"]').waitFor();
      expect(await documentMark(page)).to.equal(42);
    });
  });

  describe('login with monitoring.requireAdmin', function () {
    let hp: TestHomeport;
    before(async () => {
      hp = await startTestHomeport({ env: { HOMEPORT_MONITORING__REQUIREADMIN: 'true' } });
      await seedNodes(hp, [{ mac: '52:54:00:d0:00:01', hostname: 'secure1' }]);
      // Cookies are per host, not per port: start without any from other suites.
      await browser.context.clearCookies();
    });
    after(async () => hp?.stop());

    it('asks for the admin token, then shows the page live with an HttpOnly SameSite=Strict cookie', async () => {
      const page = await browser.context.newPage();
      await page.goto(`${hp.baseUrl}/monitoring?status=waiting`);
      expect(new URL(page.url()).pathname).to.equal('/monitoring/login');
      await page.fill('input[name="token"]', 'wrong-token');
      await page.click('button[type="submit"]');
      await page.locator('[role="alert"]').waitFor();
      await page.fill('input[name="token"]', hp.adminToken);
      await Promise.all([page.waitForURL(/\/monitoring\?status=waiting$/), page.click('button[type="submit"]')]);
      expect(await hostsInTable(page)).to.deep.equal(['secure1']);
      const [cookie] = await browser.context.cookies(hp.baseUrl);
      expect(cookie).to.include({ name: 'homeport_monitoring', httpOnly: true, sameSite: 'Strict', path: '/' });
      expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.cookie)).to.equal('');
      // The event stream accepts the cookie.
      await page.locator('#live-status[data-state="on"]').waitFor();
      await reportPhase(hp, '52:54:00:d0:00:01', 'ipxe_boot', 'completed');
      await countIs(page, 'td.host', 0);
      await Promise.all([page.waitForURL(/\/monitoring\/login$/), page.click('form.logout button')]);
      await page.close();
    });
  });
});
