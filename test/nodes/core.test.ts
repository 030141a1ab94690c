import { expect } from 'chai';
import { normalizeMac } from '../../server/nodes/mac.js';
import {
  buildCatalogue,
  catalogueProgress,
  decidePhase,
  type NodePhaseState,
  type PhaseReport,
} from '../../server/nodes/phases.js';

describe('MAC normalisation', () => {
  const cases: [string, string | null][] = [
    ['aa:bb:cc:dd:ee:ff', 'aa:bb:cc:dd:ee:ff'],
    ['AA:BB:CC:DD:EE:FF', 'aa:bb:cc:dd:ee:ff'],
    ['aa-bb-cc-dd-ee-ff', 'aa:bb:cc:dd:ee:ff'], // iPXE ${mac:hexhyp}
    ['aabb.ccdd.eeff', 'aa:bb:cc:dd:ee:ff'], // Cisco
    ['AABBCCDDEEFF', 'aa:bb:cc:dd:ee:ff'],
    [' 52:54:00:12:34:56 ', '52:54:00:12:34:56'],
    ['aa:bb-cc:dd:ee:ff', null], // mixed separators
    ['aa:bb:cc:dd:ee', null],
    ['aa:bb:cc:dd:ee:ff:00', null],
    ['gg:bb:cc:dd:ee:ff', null],
    ['aabbccddeef', null],
    ['', null],
    ['aa:bb:cc:dd:ee:ff\n', 'aa:bb:cc:dd:ee:ff'],
    ['aa:bb:cc:dd:ee:ff;reboot', null],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} -> ${String(expected)}`, () => expect(normalizeMac(input)).to.equal(expected));
  }
});

describe('phase report rule', () => {
  const catalogue = buildCatalogue();
  const state = (phase: string, phaseStatus: NodePhaseState['phaseStatus']): NodePhaseState => ({ phase, phaseStatus });
  const report = (phase: string, status: PhaseReport['status']): PhaseReport => ({ phase, status });
  const cases: [string, NodePhaseState, PhaseReport, boolean, string][] = [
    ['a later phase advances', state('ipxe_boot', 'completed'), report('installation', 'in_progress'), true, 'advance'],
    [
      'the same phase completing updates',
      state('installation', 'in_progress'),
      report('installation', 'completed'),
      true,
      'same_phase_update',
    ],
    [
      'the same report twice is a duplicate',
      state('installation', 'in_progress'),
      report('installation', 'in_progress'),
      false,
      'duplicate',
    ],
    [
      'in_progress after completed is a duplicate',
      state('installation', 'completed'),
      report('installation', 'in_progress'),
      false,
      'duplicate',
    ],
    [
      'new progress within the phase applies',
      { ...state('installation', 'in_progress'), progress: 42 },
      { ...report('installation', 'in_progress'), progress: 60 },
      true,
      'progress',
    ],
    [
      'a new message within the phase applies',
      { ...state('image_download', 'in_progress'), progress: 42 },
      { ...report('image_download', 'in_progress'), message: '1.2 of 3 GiB' },
      true,
      'progress',
    ],
    [
      'the same progress again is a duplicate',
      { ...state('installation', 'in_progress'), progress: 42 },
      { ...report('installation', 'in_progress'), progress: 42 },
      false,
      'duplicate',
    ],
    [
      'progress after the phase completed is a duplicate',
      { ...state('installation', 'completed'), progress: 100 },
      { ...report('installation', 'in_progress'), progress: 60 },
      false,
      'duplicate',
    ],
    [
      'an earlier phase is late',
      state('post_install', 'in_progress'),
      report('image_download', 'completed'),
      false,
      'late',
    ],
    ['failed always applies', state('deployed', 'completed'), report('installation', 'failed'), true, 'failure'],
    ['the failed phase applies', state('installation', 'in_progress'), report('failed', 'completed'), true, 'failure'],
    [
      'progress after a failure is only recorded',
      state('installation', 'failed'),
      report('post_install', 'in_progress'),
      false,
      'after_failure',
    ],
    [
      'ipxe_boot after deployed restarts the install',
      state('deployed', 'completed'),
      report('ipxe_boot', 'completed'),
      true,
      'restart',
    ],
    [
      'ipxe_boot after a failure restarts the install',
      state('failed', 'completed'),
      report('ipxe_boot', 'completed'),
      true,
      'restart',
    ],
    [
      'a late mid phase after deployed is only recorded',
      state('deployed', 'completed'),
      report('installation', 'completed'),
      false,
      'late',
    ],
    [
      'from pending anything later applies',
      state('pending', null),
      report('config_download', 'completed'),
      true,
      'advance',
    ],
  ];
  for (const [name, current, incoming, apply, reason] of cases) {
    it(name, () => {
      const decision = decidePhase(catalogue, current, incoming);
      expect(decision.apply).to.equal(apply);
      expect(decision.reason).to.equal(reason);
    });
  }

  it('inserts configured extra phases before deployed', () => {
    const extended = buildCatalogue(['ceph_setup', 'deployed', 'installation']);
    expect(extended.ordered.slice(-2)).to.deep.equal(['ceph_setup', 'deployed']);
    expect(extended.ordered.filter((p) => p === 'installation')).to.have.length(1);
  });

  it('reports progress through the catalogue', () => {
    expect(catalogueProgress(catalogue, 'pending', null)).to.equal(0);
    expect(catalogueProgress(catalogue, 'deployed', 'completed')).to.equal(100);
    const mid = catalogueProgress(catalogue, 'installation', 'in_progress');
    expect(mid).to.be.greaterThan(40).and.lessThan(80);
    // Within the phase, as far as the installer said: 42 %, 60 %, 75 % move the bar.
    const moving = [0, 42, 60, 75, 100].map((p) => catalogueProgress(catalogue, 'installation', 'in_progress', p));
    expect(moving).to.deep.equal([...moving].sort((a, b) => a - b));
    expect(new Set(moving).size).to.be.greaterThan(2);
    expect(catalogueProgress(catalogue, 'installation', 'in_progress', 100)).to.equal(
      catalogueProgress(catalogue, 'installation', 'completed'),
    );
  });
});
