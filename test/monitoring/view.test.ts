import { expect } from 'chai';
import { isValidSession, safeNext, sessionValue } from '../../server/monitoring/access.js';
import { sse } from '../../server/monitoring/events.js';
import {
  buildClusters,
  buildSummary,
  buildTimeline,
  DEFAULT_QUERY,
  filterForm,
  filterNodes,
  formatDuration,
  fragmentHref,
  ipSortKey,
  listHref,
  nodeRow,
  nodeState,
  pageOf,
  PAGE_SIZE,
  parseListQuery,
  relativeTime,
  sortHeaders,
  sortNodes,
  type ListQuery,
} from '../../server/monitoring/view.js';
import { buildCatalogue } from '../../server/nodes/phases.js';
import { entry, node, NOW } from './fixtures.js';

const catalogue = buildCatalogue();
const q = (fields: Partial<ListQuery> = {}): ListQuery => ({ ...DEFAULT_QUERY, ...fields });

describe('monitoring view models', () => {
  describe('time', () => {
    const durations: [number, string][] = [
      [0, '0s'],
      [999, '0s'],
      [42_000, '42s'],
      [60_000, '1m'],
      [303_000, '5m 3s'],
      [3 * 3_600_000 + 12 * 60_000 + 9_000, '3h 12m'],
      [2 * 86_400_000 + 4 * 3_600_000, '2d 4h'],
      [-5_000, '0s'],
    ];
    for (const [ms, text] of durations)
      it(`formats ${ms} ms as ${text}`, () => expect(formatDuration(ms)).to.equal(text));

    const relatives: [number, string][] = [
      [NOW, 'just now'],
      [NOW - 4_999, 'just now'],
      [NOW + 2_000, 'just now'], // clock skew between instances
      [NOW - 5_000, '5s ago'],
      [NOW - 90_000, '1m 30s ago'],
    ];
    for (const [at, text] of relatives)
      it(`reads ${NOW - at} ms ago as "${text}"`, () => expect(relativeTime(at, NOW)).to.equal(text));
  });

  describe('node state', () => {
    const cases: [string, string | null, string][] = [
      ['pending', null, 'waiting'],
      ['ipxe_boot', 'completed', 'installing'],
      ['installation', 'failed', 'failed'],
      ['failed', 'in_progress', 'failed'],
      ['cleanup_completed', 'completed', 'failed'],
      ['deployed', 'in_progress', 'installing'],
      ['deployed', 'completed', 'deployed'],
    ];
    for (const [phase, status, state] of cases) {
      it(`${phase}/${status} is ${state}`, () =>
        expect(nodeState({ deploymentStatus: phase, deploymentPhaseStatus: status as never }, catalogue)).to.equal(
          state,
        ));
    }
  });

  describe('query string', () => {
    const cases: [Record<string, string | string[]>, Partial<ListQuery>][] = [
      [{}, {}],
      [
        { status: 'failed', cluster: 'lab' },
        { status: 'failed', cluster: 'lab' },
      ],
      [{ status: 'bogus', phase: 'no_such_phase', sort: 'nope', dir: 'sideways' }, {}],
      [
        { phase: 'installation', sort: 'ip', dir: 'desc' },
        { phase: 'installation', sort: 'ip', dir: 'desc' },
      ],
      [{ status: ['failed', 'deployed'] }, {}], // given twice: ignored, not guessed
      [{ cluster: 'x'.repeat(65) }, {}],
      [{ page: '3' }, { page: 3 }],
      [{ page: '0' }, {}], // pages count from 1
      [{ page: '-2' }, {}],
      [{ page: '2.5' }, {}],
      [{ page: '99999999' }, {}], // longer than any real page number: ignored
      [{ page: '999999' }, { page: 100_000 }], // capped
    ];
    for (const [raw, expected] of cases) {
      it(`parses ${JSON.stringify(raw)}`, () =>
        expect(parseListQuery(raw, catalogue)).to.deep.equal({
          status: undefined,
          phase: undefined,
          cluster: undefined,
          ...DEFAULT_QUERY,
          ...expected,
        }));
    }

    const hrefs: [Partial<ListQuery>, string][] = [
      [{}, '/monitoring'],
      [{ status: 'failed' }, '/monitoring?status=failed'],
      [{ cluster: 'a b&c' }, '/monitoring?cluster=a+b%26c'],
      [{ sort: 'ip' }, '/monitoring?sort=ip&dir=asc'],
      [{ dir: 'desc' }, '/monitoring?sort=phase&dir=desc'],
      [{ page: 2 }, '/monitoring?page=2'],
      [{ status: 'failed', page: 4 }, '/monitoring?status=failed&page=4'],
    ];
    for (const [query, href] of hrefs)
      it(`links ${JSON.stringify(query)} as ${href}`, () => expect(listHref(q(query))).to.equal(href));

    it('round-trips: parsing a link gives its query back', () => {
      const query = q({ status: 'installing', cluster: 'lab', sort: 'updated', dir: 'desc', page: 7 });
      const params = Object.fromEntries(new URL(listHref(query), 'http://x').searchParams);
      expect(parseListQuery(params, catalogue)).to.deep.equal({ ...query, phase: undefined });
    });

    describe('paging the table', () => {
      const rows = Array.from({ length: 250 }, (_, i) => i);
      const cases: [
        string,
        number,
        { first: number | undefined; count: number; range: string | null; prev: string | null; next: string | null },
      ][] = [
        [
          'the first page',
          1,
          { first: 0, count: PAGE_SIZE, range: '1–100 of 250', prev: null, next: '/monitoring?page=2' },
        ],
        [
          'a middle page',
          2,
          { first: 100, count: 100, range: '101–200 of 250', prev: '/monitoring', next: '/monitoring?page=3' },
        ],
        [
          'the last, short page',
          3,
          { first: 200, count: 50, range: '201–250 of 250', prev: '/monitoring?page=2', next: null },
        ],
        [
          'a page past the end: the last one',
          9,
          { first: 200, count: 50, range: '201–250 of 250', prev: '/monitoring?page=2', next: null },
        ],
      ];
      for (const [name, page, want] of cases)
        it(name, () => {
          const view = pageOf(rows, q({ page }));
          expect({
            first: view.items[0],
            count: view.items.length,
            range: view.range,
            prev: view.prevHref,
            next: view.nextHref,
          }).to.deep.equal(want);
        });

      it('shows no pager when every row fits on one page, and an empty list as one empty page', () => {
        expect(pageOf(rows.slice(0, PAGE_SIZE), q())).to.deep.include({ range: null, prevHref: null, nextHref: null });
        expect(pageOf([], q({ page: 5 }))).to.deep.equal({ items: [], range: null, prevHref: null, nextHref: null });
      });

      it('starts sorting and filtering links again at the first page', () => {
        const onPage3 = q({ page: 3 });
        expect(
          sortHeaders(onPage3)
            .map((h) => h.href)
            .filter((href) => href.includes('page=')),
        ).to.deep.equal([]);
      });
    });

    it('asks for the fragment of the same view', () => {
      expect(fragmentHref('/monitoring')).to.equal('/monitoring?fragment=1');
      expect(fragmentHref('/monitoring?status=failed')).to.equal('/monitoring?status=failed&fragment=1');
    });
  });

  describe('filter and sort', () => {
    const nodes = [
      node(1, {
        hostname: 'b',
        ip: '10.0.0.10',
        cluster: 'lab',
        deploymentStatus: 'installation',
        deploymentPhaseStatus: 'in_progress',
        lastUpdate: NOW - 10_000,
        phaseStartedAt: NOW - 50_000,
      }),
      node(2, {
        hostname: 'a',
        ip: '10.0.0.9',
        cluster: 'lab',
        deploymentStatus: 'deployed',
        deploymentPhaseStatus: 'completed',
        lastUpdate: NOW - 30_000,
        phaseStartedAt: NOW - 5_000,
      }),
      node(3, {
        hostname: 'c',
        ip: null,
        cluster: 'edge',
        deploymentStatus: 'image_download',
        deploymentPhaseStatus: 'failed',
        lastUpdate: NOW - 20_000,
      }),
      node(4, { hostname: null, ip: '10.0.1.1', deploymentStatus: 'pending' }),
      node(5, {
        hostname: 'd',
        ip: '10.0.0.11',
        cluster: 'edge',
        deploymentStatus: 'post_install',
        deploymentPhaseStatus: 'completed',
        lastUpdate: NOW - 40_000,
        phaseStartedAt: NOW - 10_000,
      }),
    ];
    const ids = (list: { id: number }[]) => list.map((n) => n.id);

    const filters: [Partial<ListQuery>, number[]][] = [
      [{}, [1, 2, 3, 4, 5]],
      [{ status: 'failed' }, [3]],
      [{ status: 'installing' }, [1, 5]],
      [{ cluster: 'lab' }, [1, 2]],
      [{ cluster: 'edge', status: 'installing' }, [5]],
      [{ phase: 'deployed' }, [2]],
      [{ cluster: 'nowhere' }, []],
    ];
    for (const [query, expected] of filters)
      it(`filters ${JSON.stringify(query)} to ${JSON.stringify(expected)}`, () =>
        expect(ids(filterNodes(nodes, q(query), catalogue))).to.deep.equal(expected));

    const sorts: [Partial<ListQuery>, number[]][] = [
      // attention first: failed, then installing furthest along first, waiting, deployed
      [{ sort: 'phase', dir: 'asc' }, [3, 5, 1, 4, 2]],
      [{ sort: 'phase', dir: 'desc' }, [2, 4, 1, 5, 3]],
      // hostless node last in both directions
      [{ sort: 'hostname', dir: 'asc' }, [2, 1, 3, 5, 4]],
      [{ sort: 'hostname', dir: 'desc' }, [5, 3, 1, 2, 4]],
      // numeric IP order (10.0.0.9 < 10.0.0.10), no IP last
      [{ sort: 'ip', dir: 'asc' }, [2, 1, 5, 4, 3]],
      [{ sort: 'ip', dir: 'desc' }, [4, 5, 1, 2, 3]],
      [{ sort: 'updated', dir: 'desc' }, [1, 3, 2, 5, 4]],
      [{ sort: 'in_phase', dir: 'desc' }, [1, 5, 2, 4, 3]], // no phase start: last, by name (MAC when hostless),
      // ties (cluster) broken by hostname, whatever the direction
      [{ sort: 'cluster', dir: 'asc' }, [3, 5, 2, 1, 4]],
    ];
    for (const [query, expected] of sorts)
      it(`sorts by ${query.sort} ${query.dir}`, () =>
        expect(ids(sortNodes(nodes, q(query), catalogue, NOW))).to.deep.equal(expected));

    it('keys IPv4 numerically and other addresses after it', () => {
      expect(ipSortKey('10.0.0.9')! < ipSortKey('10.0.0.10')!).to.equal(true);
      expect(ipSortKey('255.0.0.0')! < ipSortKey('fe80::1')!).to.equal(true);
      expect(ipSortKey(null)).to.equal(null);
    });

    it('header links sort by a column, reverse on the current one, and keep filters', () => {
      const headers = sortHeaders(q({ status: 'failed', sort: 'ip', dir: 'asc' }));
      const ip = headers.find((h) => h.key === 'ip')!;
      expect(ip).to.include({ href: '/monitoring?status=failed&sort=ip&dir=desc', ariaSort: 'ascending', arrow: '▲' });
      const host = headers.find((h) => h.key === 'hostname')!;
      expect(host).to.include({
        href: '/monitoring?status=failed&sort=hostname&dir=asc',
        ariaSort: undefined,
        arrow: '',
      });
      expect(headers.find((h) => h.key === 'phase')!.href).to.equal('/monitoring?status=failed'); // the default sort
    });
  });

  describe('rows', () => {
    it('shows progress through the catalogue, relative times and time in phase', () => {
      const row = nodeRow(
        node(7, {
          deploymentStatus: 'installation',
          deploymentPhaseStatus: 'in_progress',
          lastUpdate: NOW - 125_000,
          phaseStartedAt: NOW - 3_725_000,
          reprovisionStatus: 'in_progress',
        }),
        catalogue,
        NOW,
      );
      expect(row).to.include({
        href: '/monitoring/nodes/7',
        phase: 'installation',
        phaseStatus: 'in_progress',
        state: 'installing',
        progress: 63,
        step: '10 of 15',
        reprovision: 'in_progress',
        updatedAgo: '2m 5s ago',
        inPhase: '1h 2m',
      });
      expect(row.updatedIso).to.equal(new Date(NOW - 125_000).toISOString());
    });

    it('names a failure phase instead of a step number', () => {
      expect(
        nodeRow(node(1, { deploymentStatus: 'failed', deploymentPhaseStatus: 'failed' }), catalogue, NOW),
      ).to.include({ step: 'failed', progress: 0, inPhase: null });
    });
  });

  describe('summary bar', () => {
    const nodes = [
      node(1, { deploymentStatus: 'installation', deploymentPhaseStatus: 'in_progress' }),
      node(2, { deploymentStatus: 'installation', deploymentPhaseStatus: 'in_progress' }),
      node(3, { deploymentStatus: 'installation', deploymentPhaseStatus: 'failed' }),
      node(4, { deploymentStatus: 'ipxe_boot', deploymentPhaseStatus: 'completed' }),
      node(5, { deploymentStatus: 'cleanup_completed', deploymentPhaseStatus: 'completed' }),
      node(6, { deploymentStatus: 'deployed', deploymentPhaseStatus: 'completed' }),
    ];

    it('counts per state, failures first, with links that toggle the filter', () => {
      const summary = buildSummary(nodes, catalogue, q({ status: 'failed' }));
      expect(summary.total).to.equal(6);
      expect(summary.states.map((s) => [s.label, s.count, s.active])).to.deep.equal([
        ['failed', 2, true],
        ['installing', 3, false],
        ['waiting', 0, false],
        ['deployed', 1, false],
      ]);
      expect(summary.states[0]!.href).to.equal('/monitoring'); // clicking the active filter clears it
      expect(summary.states[1]!.href).to.equal('/monitoring?status=installing');
    });

    it('counts per phase and status: failures first, then in catalogue order', () => {
      const summary = buildSummary(nodes, catalogue, q());
      expect(summary.phases.map((p) => [p.label, p.count, p.state])).to.deep.equal([
        ['installation · failed', 1, 'failed'],
        ['cleanup_completed', 1, 'failed'],
        ['ipxe_boot · completed', 1, 'installing'],
        ['installation · in_progress', 2, 'installing'],
        ['deployed · completed', 1, 'deployed'],
      ]);
      expect(summary.phases[0]!.href).to.equal('/monitoring?phase=installation');
    });
  });

  describe('clusters', () => {
    it('lists recorded clusters and clusters only nodes name, with deployed counts', () => {
      const rows = [
        {
          name: 'lab',
          driver: 'proxmox',
          state: 'error',
          expectedNodes: 3,
          lastError: 'ssh: timeout',
          formedAt: null,
          updatedAt: NOW - 60_000,
        },
      ];
      const nodes = [
        node(1, { cluster: 'lab', deploymentStatus: 'deployed', deploymentPhaseStatus: 'completed' }),
        node(2, { cluster: 'lab' }),
        node(3, { cluster: 'edge' }),
      ];
      expect(buildClusters(rows, nodes, catalogue, NOW)).to.deep.equal([
        {
          name: 'edge',
          state: 'not recorded',
          tone: 'neutral',
          driver: null,
          lastError: null,
          nodes: '0 of 1 deployed',
          href: '/monitoring?cluster=edge',
          updatedAgo: null,
        },
        {
          name: 'lab',
          state: 'error',
          tone: 'failed',
          driver: 'proxmox',
          lastError: 'ssh: timeout',
          nodes: '1 of 3 deployed',
          href: '/monitoring?cluster=lab',
          updatedAgo: '1m ago',
        },
      ]);
    });

    it('keeps a filtered cluster in the form even when nothing names it any more', () => {
      const form = filterForm(q({ cluster: 'gone', sort: 'ip' }), ['lab']);
      expect(form.clusters).to.deep.equal([
        { value: 'lab', selected: false },
        { value: 'gone', selected: true },
      ]);
      expect(form).to.include({ sort: 'ip', dir: 'asc', active: true });
    });
  });

  describe('timeline', () => {
    it('shows the gap to the previous entry in time, and marks entries that did not move the node', () => {
      const entries = [
        entry(3, { at: NOW - 1_000, phase: 'image_download', applied: false }),
        entry(2, { at: NOW - 61_000, phase: 'installation' }),
        entry(1, { at: NOW - 3_661_000, phase: 'registered' }),
      ];
      const timeline = buildTimeline(entries, NOW);
      expect(timeline.map((t) => [t.id, t.after, t.recordedOnly, t.ago])).to.deep.equal([
        [3, '+1m', true, 'just now'],
        [2, '+1h', false, '1m 1s ago'],
        [1, null, false, '1h 1m ago'],
      ]);
      expect(timeline[0]!.at).to.equal('2026-11-23 11:59:59Z');
    });
  });

  describe('event stream format', () => {
    it('puts one JSON document on one data line, and never lets a comment break a message', () => {
      expect(sse.data({ message: 'line1\nline2' })).to.equal('data: {"message":"line1\\nline2"}\n\n');
      expect(sse.comment('a\nb')).to.equal(': a b\n\n');
      expect(sse.retry(3000)).to.equal('retry: 3000\n\n');
    });
  });

  describe('access', () => {
    const token = 'admin-token-for-tests';
    it('accepts a session cookie until it expires, and only for the token that made it', () => {
      const value = sessionValue(token, NOW + 1000);
      expect(isValidSession(token, value, NOW)).to.equal(true);
      expect(isValidSession(token, value, NOW + 1000)).to.equal(false);
      expect(isValidSession('another-token', value, NOW)).to.equal(false);
      expect(isValidSession(token, value.replace(/^\d+/, String(NOW + 10_000_000)), NOW)).to.equal(false);
      expect(isValidSession(token, undefined, NOW)).to.equal(false);
      expect(isValidSession(token, token, NOW)).to.equal(false);
    });

    const nexts: [unknown, string][] = [
      ['/monitoring/nodes/3', '/monitoring/nodes/3'],
      ['/monitoring?status=failed', '/monitoring?status=failed'],
      ['/monitoring', '/monitoring'],
      ['//evil.example/monitoring', '/monitoring'],
      ['https://evil.example/', '/monitoring'],
      ['/monitoringevil', '/monitoring'],
      ['/monitoring/\\evil', '/monitoring'],
      [undefined, '/monitoring'],
      [['/monitoring/nodes/1'], '/monitoring'],
    ];
    for (const [next, expected] of nexts)
      it(`redirects after login to ${expected} for ${JSON.stringify(next)}`, () =>
        expect(safeNext(next)).to.equal(expected));
  });
});
