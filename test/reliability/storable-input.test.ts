import { expect } from 'chai';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';

/**
 * Input a database cannot store is refused at input, the same on SQLite and
 * PostgreSQL: every text field of every write route, at its longest valid
 * value (stored whole) and with hostile bytes (400 naming the field, nothing
 * written). And one report the database refuses anyway never fails the other
 * reports that share its group commit.
 */
const MAC = '52:54:00:aa:0d:01';
const OTHER = '52:54:00:aa:0d:02';
/** Longest values the schema allows, built to be valid: 32 characters fills varchar(32), and so on. */
const name = (length: number) => `a${'b'.repeat(length - 2)}c`;
const HOSTNAME_253 = [name(63), name(63), name(63), name(61)].join('.');
const IP_45 = '0000:0000:0000:0000:0000:ffff:192.168.100.200';
const PHASE_32 = `p${'_'.repeat(30)}x`;
const PROFILE_63 = name(63);
const UUID = '0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d';
/** An ed25519 host key line (an all-zero key) with the longest comment accepted (256). */
const HOST_KEY = `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA ${'c'.repeat(256)}`;

/** NUL (PostgreSQL cannot store it in text), other C0 controls, DEL: each one is refused wherever it appears. */
const HOSTILE = ['\u0000', '\u0001', '\u001b[31m', '\u007f'];

type Expect = 'stored' | 'answered';
interface TextField {
  /** Dotted path in the body; `labels` is a map, `nodes.0` an array element, `params.x` inside a job's params. */
  field: string;
  longest: string;
  /** stored: a 2xx and the value reads back; answered: any answer below 500 (the value names nothing that exists, or is not stored). */
  expect: Expect;
}

interface WriteRoute {
  method: 'POST' | 'PATCH';
  path: string;
  admin: boolean;
  /** A valid body; each field below is replaced in it. `token`: the node's install round token. */
  body: (token: string) => Record<string, unknown>;
  /** Before each request: makes room for it (a node to create again). */
  prepare?: (hp: TestHomeport) => Promise<unknown>;
  fields: TextField[];
}

const WRITE_ROUTES: WriteRoute[] = [
  {
    method: 'POST',
    path: '/api/nodes/register',
    admin: false,
    body: (token) => ({ mac: MAC, token, host_keys: [HOST_KEY] }),
    fields: [
      { field: 'mac', longest: '52:54:00:AA:0D:01', expect: 'stored' },
      { field: 'hostname', longest: HOSTNAME_253, expect: 'stored' },
      { field: 'ip', longest: IP_45, expect: 'stored' },
      { field: 'type', longest: name(32), expect: 'stored' },
      { field: 'cluster', longest: name(63), expect: 'stored' },
      { field: 'status', longest: 'post-install-complete', expect: 'stored' },
      { field: 'uuid', longest: UUID, expect: 'stored' },
      { field: 'host_keys.0', longest: HOST_KEY, expect: 'stored' },
      { field: 'token', longest: '', expect: 'stored' }, // filled with the real token below
    ],
  },
  {
    method: 'POST',
    path: '/api/status/phase',
    admin: false,
    body: (token) => ({ mac: MAC, phase: 'installation', token }),
    fields: [
      { field: 'mac', longest: '52:54:00:AA:0D:01', expect: 'stored' },
      { field: 'ip', longest: IP_45, expect: 'answered' }, // no node has it: 404
      { field: 'phase', longest: PHASE_32, expect: 'stored' },
      { field: 'status', longest: 'in_progress', expect: 'stored' },
      { field: 'message', longest: `tab\there, newline\nthere ${'m'.repeat(1975)}`, expect: 'stored' },
      { field: 'token', longest: '', expect: 'stored' },
    ],
  },
  {
    method: 'POST',
    path: '/api/nodes',
    admin: true,
    body: () => ({ mac: OTHER }),
    prepare: (hp) => hp.request('DELETE', `/api/nodes/${OTHER}`, { admin: true }),
    fields: [
      { field: 'mac', longest: '52:54:00:AA:0D:02', expect: 'stored' },
      { field: 'hostname', longest: HOSTNAME_253, expect: 'stored' },
      { field: 'ip', longest: IP_45, expect: 'stored' },
      { field: 'type', longest: name(32), expect: 'stored' },
      { field: 'profile', longest: PROFILE_63, expect: 'stored' },
      { field: 'cluster', longest: name(63), expect: 'stored' },
      { field: 'labels', longest: JSON.stringify({ [name(63)]: 'v'.repeat(253) }), expect: 'stored' },
    ],
  },
  {
    method: 'PATCH',
    path: `/api/nodes/${MAC}`,
    admin: true,
    body: () => ({}),
    fields: [
      { field: 'hostname', longest: HOSTNAME_253, expect: 'stored' },
      { field: 'ip', longest: IP_45, expect: 'stored' },
      { field: 'type', longest: name(32), expect: 'stored' },
      { field: 'profile', longest: PROFILE_63, expect: 'stored' },
      { field: 'cluster', longest: name(63), expect: 'stored' },
      { field: 'labels', longest: JSON.stringify({ [name(63)]: 'v'.repeat(253) }), expect: 'stored' },
    ],
  },
  {
    method: 'POST',
    path: '/api/reprovision',
    admin: true,
    body: () => ({ nodes: [MAC] }),
    fields: [
      { field: 'nodes.0', longest: HOSTNAME_253, expect: 'answered' }, // no such node: 404
      { field: 'cluster', longest: name(63), expect: 'answered' },
      { field: 'at', longest: '2099-12-31T23:59:59.999+14:00', expect: 'answered' },
    ],
  },
  {
    method: 'POST',
    path: '/api/jobs',
    admin: true,
    body: () => ({ type: 'import_nodes', params: { format: 'csv', content: `mac,hostname\n${OTHER},n2\n` } }),
    fields: [
      { field: 'type', longest: 'import_nodes', expect: 'stored' },
      { field: 'params.format', longest: 'json', expect: 'answered' },
      { field: 'params.content', longest: `mac,hostname\r\n${OTHER},${HOSTNAME_253}\r\n`, expect: 'stored' },
      { field: 'params.source', longest: 's'.repeat(256), expect: 'stored' },
      { field: 'schedule_at', longest: '2099-12-31T23:59:59.999+14:00', expect: 'stored' },
    ],
  },
  {
    method: 'POST',
    path: '/monitoring/login',
    admin: false,
    body: () => ({}),
    fields: [
      { field: 'token', longest: 't'.repeat(1024), expect: 'answered' },
      { field: 'next', longest: `/monitoring/${'n'.repeat(2036)}`, expect: 'answered' },
    ],
  },
];

/** The body with `field` set to `value` (a JSON map for `labels`). */
function withField(body: Record<string, unknown>, field: string, value: string): Record<string, unknown> {
  const copy = structuredClone(body);
  if (field === 'labels')
    return { ...copy, labels: value.startsWith('{') ? (JSON.parse(value) as Record<string, string>) : { rack: value } };
  const keys = field.split('.');
  let target: Record<string, unknown> | unknown[] = copy;
  for (const key of keys.slice(0, -1)) {
    const next = (target as Record<string, unknown>)[key];
    target = (next ?? {}) as Record<string, unknown>;
  }
  (target as Record<string, unknown>)[keys.at(-1)!] = value;
  return copy;
}

/** The rows every write route could add to. */
async function rowCounts(hp: TestHomeport): Promise<Record<string, number>> {
  const knex = hp.homeport.db.knex;
  const count = async (table: string) =>
    Number(((await knex(table).count({ n: '*' })) as { n: number | string }[])[0]!.n);
  return { nodes: await count('nodes'), history: await count('deployment_history'), jobs: await count('jobs') };
}

/** String fields of a JSON schema (a string, a nullable string, a list of strings), by name. */
function stringFields(schema: { properties?: Record<string, Record<string, unknown>> } | undefined): string[] {
  const isString = (s: Record<string, unknown> | undefined): boolean =>
    s !== undefined &&
    (s.type === 'string' ||
      (Array.isArray(s.anyOf) && (s.anyOf as Record<string, unknown>[]).some(isString)) ||
      (s.type === 'array' && isString(s.items as Record<string, unknown>)));
  return Object.entries(schema?.properties ?? {}).flatMap(([key, s]) =>
    isString(s) || (s.type === 'object' && key === 'labels') ? [key] : [],
  );
}

for (const kind of DATABASE_KINDS) {
  describe(`input a database cannot store is refused at input, on ${kind}`, function () {
    this.timeout(120_000);
    let hp: TestHomeport;
    /** The round token of MAC's node (an admin added it). */
    let token: string;
    before(async () => {
      hp = await startTestHomeport({
        kind,
        env: {
          HOMEPORT_PHASES__EXTRA: JSON.stringify([PHASE_32]),
          HOMEPORT_BOOT__PROFILES: JSON.stringify({ [PROFILE_63]: { kernel: 'k' } }),
          HOMEPORT_REPROVISION__METHOD: 'none',
          HOMEPORT_WATCHER__ENABLED: 'false',
        },
      });
      token = await hp.tokenFor(MAC);
      expect((await hp.request('POST', '/api/nodes/register', { body: { mac: MAC, token } })).status).to.equal(200);
    });
    after(async () => hp?.stop());
    // The walk reprovisions the node (a new install round, a new token): each test takes the current one.
    beforeEach(async () => (token = await hp.tokenFor(MAC)));

    it('the walk covers every text field of every write route the OpenAPI document lists', async () => {
      const document = (await hp.request('GET', '/api/openapi.json')).body as {
        paths: Record<
          string,
          Record<
            string,
            {
              requestBody?: {
                content: Record<string, { schema: { properties?: Record<string, Record<string, unknown>> } }>;
              };
            }
          >
        >;
      };
      const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
        Object.entries(operations).flatMap(([method, op]) => {
          const fields = stringFields(op.requestBody?.content['application/json']?.schema).filter(
            (f) => f !== 'params',
          );
          return fields.length ? [`${method.toUpperCase()} ${path}: ${fields.sort().join(', ')}`] : [];
        }),
      );
      const walked = WRITE_ROUTES.map(
        (r) =>
          `${r.method} ${r.path.replace(MAC, '{id}')}: ${[...new Set(r.fields.map((f) => f.field.split('.')[0]!))]
            .filter((f) => f !== 'params')
            .sort()
            .join(', ')}`,
      );
      expect(walked.sort()).to.deep.equal(documented.sort());
    });

    for (const route of WRITE_ROUTES) {
      for (const { field, longest, expect: outcome } of route.fields) {
        it(`${route.method} ${route.path.replace(MAC, ':id')} ${field}: hostile bytes are a 400 naming it and write nothing`, async () => {
          for (const hostile of HOSTILE) {
            await route.prepare?.(hp);
            const before = await rowCounts(hp);
            const base = route.body(token);
            const prefix = field === 'token' ? token : field === 'labels' ? 'x' : longest.slice(0, 40) || 'x';
            const value = `${prefix}${hostile}tail`;
            const response = await hp.request(route.method, route.path, {
              admin: route.admin,
              body: withField(base, field, value),
            });
            expect(response.status, `${JSON.stringify(hostile)}: ${response.text}`).to.equal(400);
            expect(response.body.detail, JSON.stringify(hostile)).to.match(
              new RegExp(
                `^${field === 'labels' ? 'labels\\.rack' : field.replace(/\./g, '\\.')}: must not contain NUL or other control characters`,
              ),
            );
            expect(await rowCounts(hp), 'nothing written').to.deep.equal(before);
          }
        });

        it(`${route.method} ${route.path.replace(MAC, ':id')} ${field}: its longest valid value is ${outcome}`, async () => {
          await route.prepare?.(hp);
          const value = field === 'token' ? token : longest;
          const response = await hp.request(route.method, route.path, {
            admin: route.admin,
            body: withField(route.body(token), field, value),
          });
          expect(response.status, response.text.slice(0, 300)).to.be.below(500);
          if (outcome === 'stored') expect(response.status, response.text.slice(0, 300)).to.be.within(200, 299);
        });
      }
    }

    it('a node type one character over its column (varchar(32)) is refused, not truncated or failed by the database', async () => {
      const response = await hp.request('POST', '/api/nodes/register', { body: { mac: MAC, type: name(33), token } });
      expect(response.status).to.equal(400);
      expect(response.body.detail).to.equal('type: must be at most 32 characters');
    });

    it('stores the longest values whole and reads them back', async () => {
      await hp.request('PATCH', `/api/nodes/${MAC}`, {
        admin: true,
        body: { hostname: HOSTNAME_253, ip: IP_45, type: name(32), profile: PROFILE_63, cluster: name(63) },
      });
      const node = (await hp.request('GET', `/api/nodes/${MAC}`, { admin: true })).body as Record<string, unknown>;
      expect(node).to.include({
        hostname: HOSTNAME_253,
        ip: IP_45,
        type: name(32),
        profile: PROFILE_63,
        cluster: name(63),
      });
      const message = `tab\there ${'m'.repeat(1990)}`;
      await hp.request('POST', '/api/status/phase', { body: { mac: MAC, phase: PHASE_32, message, token } });
      const last = (await hp.request('GET', `/api/status/history/${MAC}?order=desc&limit=1`)).body.entries[0] as Record<
        string,
        unknown
      >;
      expect(last).to.include({ phase: PHASE_32, message });
    });

    it('one report the database refuses fails alone: the others of its group commit are written', async () => {
      const macs = ['52:54:00:aa:0e:01', '52:54:00:aa:0e:02', '52:54:00:aa:0e:03'];
      for (const mac of macs)
        await hp.request('POST', '/api/nodes/register', { body: { mac, token: await hp.tokenFor(mac) } });
      // Past input validation (a bug or a new caller): the service itself, all three in one batch.
      const report = (mac: string, message: string) =>
        hp.homeport.nodes.reportPhase(
          { mac },
          { phase: 'installation', status: 'in_progress', message, source: 'installer' },
        );
      const outcomes = await Promise.allSettled([
        report(macs[0]!, 'good before'),
        report(macs[1]!, 'bad \u0000 byte'),
        report(macs[2]!, 'good after'),
      ]);
      expect(outcomes[0]!.status).to.equal('fulfilled');
      expect(outcomes[2]!.status).to.equal('fulfilled');
      // PostgreSQL cannot store NUL in text (SQLite can): only that report fails there.
      expect(outcomes[1]!.status).to.equal(kind === 'postgres' ? 'rejected' : 'fulfilled');
      for (const mac of [macs[0]!, macs[2]!]) {
        const entries = (await hp.request('GET', `/api/status/history/${mac}?order=desc&limit=1`)).body.entries as {
          message: string;
        }[];
        expect(entries[0]!.message, mac).to.match(/^good /);
      }
    });
  });
}
