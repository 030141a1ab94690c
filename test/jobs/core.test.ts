import { expect } from 'chai';
import { parseImport, planImportRow } from '../../server/nodes/import.js';
import { batchState, rollingBatches } from '../../server/reprovision/plan.js';
import type { Node } from '../../server/store/nodes-repo.js';

const PROFILES = ['debian', 'proxmox'];
const node = (id: number, fields: Partial<Node> = {}): Node => ({
  id,
  mac: `52:54:00:00:00:0${id}`,
  hostname: `pve${id}`,
  ip: `10.0.0.${id}`,
  uuid: null,
  arch: null,
  type: null,
  profile: null,
  cluster: 'lab',
  labels: {},
  status: 'registered',
  deploymentStatus: 'pending',
  deploymentPhaseStatus: null,
  progress: null,
  reprovisionStatus: 'clustered',
  netbootEnabled: false,
  registeredAt: 0,
  lastUpdate: 0,
  phaseStartedAt: null,
  reprovisionStarted: null,
  reprovisionTimeoutMin: null,
  roundNonce: null,
  roundOpenedAt: null,
  roundClosesAt: null,
  roundBoundIp: null,
  observedIp: null,
  reportedIp: null,
  ...fields,
});

describe('jobs core (pure)', () => {
  it('reads registered-nodes.json (seed 000) and CSV; rejects bad rows with the reason and keeps the good ones', () => {
    const seedFile = JSON.stringify({
      nodes: {
        'aa:bb:cc:dd:ee:01': {
          hostname: 'node1',
          ip: '10.0.0.101',
          mac: 'aa:bb:cc:dd:ee:01',
          type: 'proxmox',
          status: 'registered',
          reprovision_status: 'in_progress',
          last_update: '2024-01-01 13:15:00',
        },
        'AA-BB-CC-DD-EE-02': { hostname: 'node2', ip: '10.0.0.102' },
        'aa:bb:cc:dd:ee:03': { hostname: 'bad;name', ip: '10.0.0.103', mac: 'aa:bb:cc:dd:ee:03' },
        'not-a-mac': { hostname: 'node4' },
        'aa:bb:cc:dd:ee:05': { hostname: 'node5', ip: '10.0.0.300', mac: 'aa:bb:cc:dd:ee:05' },
      },
    });
    const json = parseImport('json', seedFile, PROFILES);
    expect(json.rows.map((r) => [r.row, r.input])).to.deep.equal([
      ['"aa:bb:cc:dd:ee:01"', { mac: 'aa:bb:cc:dd:ee:01', hostname: 'node1', ip: '10.0.0.101', type: 'proxmox' }],
      ['"AA-BB-CC-DD-EE-02"', { mac: 'aa:bb:cc:dd:ee:02', hostname: 'node2', ip: '10.0.0.102' }],
    ]);
    expect(json.rejected).to.deep.equal([
      {
        row: '"aa:bb:cc:dd:ee:03"',
        reason:
          'hostname: must be an RFC 1123 hostname: letters, digits and hyphens, dot-separated labels of 1-63 characters, at most 253 in all',
      },
      {
        row: '"not-a-mac"',
        reason: 'mac: must be a MAC address (aa:bb:cc:dd:ee:ff, aa-bb-..., aabb.ccdd.eeff or aabbccddeeff)',
      },
      { row: '"aa:bb:cc:dd:ee:05"', reason: 'ip: must be an IPv4 or IPv6 address' },
    ]);

    const csv = parseImport(
      'csv',
      'mac,hostname,ip,profile,cluster\n# a comment\naabbccddee01,node1,10.0.0.1,debian,lab\naa:bb:cc:dd:ee:02,,,,\naa:bb:cc:dd:ee:01,node1b,10.0.0.9,,\nzz,node3,10.0.0.3,,\naa:bb:cc:dd:ee:04,node4\naa:bb:cc:dd:ee:08,node8,,debain,\n',
      PROFILES,
    );
    expect(csv.rows.map((r) => r.input)).to.deep.equal([
      { mac: 'aa:bb:cc:dd:ee:01', hostname: 'node1', ip: '10.0.0.1', profile: 'debian', cluster: 'lab' },
      { mac: 'aa:bb:cc:dd:ee:02' },
    ]);
    expect(csv.rejected.map((r) => `${r.row}: ${r.reason}`).sort()).to.deep.equal([
      'line 5: mac aa:bb:cc:dd:ee:01 is already in line 3',
      'line 6: mac: must be a MAC address (aa:bb:cc:dd:ee:ff, aa-bb-..., aabb.ccdd.eeff or aabbccddeeff)',
      'line 7: has 2 columns, the header 5',
      'line 8: profile: no profile debain (known: debian, proxmox)',
    ]);
  });

  it('rejects unreadable files as a whole', () => {
    const cases: [Parameters<typeof parseImport>[0], string, RegExp][] = [
      ['json', '{nope', /^not JSON/],
      ['json', '{"hosts": []}', /registered-nodes.json/],
      ['csv', '', /empty CSV/],
      ['csv', 'hostname,ip\nnode1,10.0.0.1', /must name mac/],
      ['csv', 'mac,color\naa:bb:cc:dd:ee:01,red', /unknown: color/],
    ];
    for (const [format, content, error] of cases)
      expect(() => parseImport(format, content, PROFILES), content).to.throw(error);
  });

  it('plans each row: created, updated with the changed fields, or skipped when unchanged (idempotent)', () => {
    const existing = node(1, {
      mac: 'aa:bb:cc:dd:ee:01',
      hostname: 'node1',
      ip: '10.0.0.1',
      type: 'proxmox',
      cluster: null,
    });
    expect(planImportRow(null, { mac: 'aa:bb:cc:dd:ee:09', hostname: 'n9' })).to.deep.include({
      action: 'created',
      reason: 'new node',
    });
    expect(
      planImportRow(existing, { mac: existing.mac, hostname: 'node1', ip: '10.0.0.1', type: 'proxmox' }),
    ).to.deep.equal({ action: 'skipped', changes: {}, reason: 'unchanged' });
    expect(
      planImportRow(existing, { mac: existing.mac, hostname: 'node1', ip: '10.0.0.7', cluster: 'lab' }),
    ).to.deep.equal({ action: 'updated', changes: { ip: '10.0.0.7', cluster: 'lab' }, reason: 'changed ip, cluster' });
  });

  it('cuts a rolling reprovision into batches of max_unavailable by name', () => {
    const nodes = [node(5), node(3), node(1), node(4), node(2)];
    expect(rollingBatches(nodes, 2).map((b) => b.map((n) => n.hostname))).to.deep.equal([
      ['pve1', 'pve2'],
      ['pve3', 'pve4'],
      ['pve5'],
    ]);
    expect(rollingBatches(nodes, 5)).to.have.length(1);
    expect(rollingBatches(nodes, 1)).to.have.length(5);
  });

  it('says when a batch is back, still out, or failed', () => {
    const inFormed = (n: Node) => n.cluster === 'lab';
    const cases: [string, Node[], string][] = [
      ['all clustered again', [node(1), node(2)], 'done'],
      ['completed without a formed cluster', [node(1, { cluster: null, reprovisionStatus: 'completed' })], 'done'],
      [
        'completed but not rejoined',
        [node(1, { reprovisionStatus: 'completed' }), node(2)],
        'waiting: waiting for pve1 (rejoining its cluster) 50%',
      ],
      [
        'installing',
        [
          node(1, { reprovisionStatus: 'in_progress', deploymentStatus: 'installation' }),
          node(2, { reprovisionStatus: 'in_progress', deploymentStatus: 'ipxe_boot' }),
        ],
        'waiting: waiting for pve1 (installation), pve2 (ipxe_boot) 0%',
      ],
      ['timed out', [node(1, { reprovisionStatus: 'timeout' }), node(2)], 'failed: pve1 is timeout'],
      [
        'install failed',
        [
          node(1, {
            reprovisionStatus: 'in_progress',
            deploymentStatus: 'installation',
            deploymentPhaseStatus: 'failed',
          }),
        ],
        'failed: pve1 is failed in installation',
      ],
    ];
    for (const [name, nodes, expected] of cases) {
      const state = batchState(nodes, inFormed);
      const text =
        state.state === 'done'
          ? 'done'
          : state.state === 'failed'
            ? `failed: ${state.reason}`
            : `waiting: ${state.reason} ${state.percent}%`;
      expect(text, name).to.equal(expected);
    }
  });
});
