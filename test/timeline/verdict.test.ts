import { expect } from 'chai';
import { boundDetail, splitAttempts, type BootEvent } from '../../server/timeline/events.js';
import { verdictOf, type PhaseRecord, type VerdictKind, type VerdictLimits } from '../../server/timeline/verdict.js';

const MAC = '52:54:00:00:00:01';
const S = 1000;
const MIN = 60 * S;
const limits: VerdictLimits = { noPhoneHomeMs: 20 * MIN, phaseStallMs: 60 * MIN, scriptGapMs: MIN };

function ev(
  at: number,
  source: string,
  kind: string,
  outcome: string,
  detail: Record<string, unknown> = {},
): BootEvent {
  return { mac: MAC, at, source, kind, outcome, detail };
}
function phase(
  at: number,
  name: string,
  status = 'completed',
  source = 'installer',
  message: string | null = null,
): PhaseRecord {
  return { phase: name, status, message, at, source };
}

// Recorded sequences: what a BIOS (iPXE ROM) and a UEFI (PXE, then TFTP) machine send, cut where each fault hits.
const uefiDhcp = [
  ev(0, 'dhcp', 'DISCOVER', 'offer', {
    arch: 7,
    vendorClass: 'PXEClient:Arch:00007',
    ipxe: false,
    file: 'snponly.efi',
  }),
  ev(1 * S, 'dhcp', 'REQUEST', 'ack', { arch: 7, ipxe: false, file: 'snponly.efi' }),
];
const ipxeDhcp = [
  ev(10 * S, 'dhcp', 'DISCOVER', 'offer', { ipxe: true, userClass: 'iPXE' }),
  ev(11 * S, 'dhcp', 'REQUEST', 'ack', { ipxe: true, userClass: 'iPXE' }),
];
const uefiTftp = ev(3 * S, 'tftp', 'read', 'complete', { file: 'snponly.efi', bytes: 200000, blksize: 1468 });
const entry = ev(12 * S, 'http', 'entry_script', 'served');
const installScript = ev(13 * S, 'http', 'node_script', 'install', { profile: 'debian', via: 'node' });
const kernel = ev(14 * S, 'asset', 'asset', 'complete', { path: 'debian/linux', bytes: 100, total: 100 });
const initrd = ev(15 * S, 'asset', 'asset', 'complete', { path: 'debian/initrd.gz', bytes: 200, total: 200 });
const healthyUefi = [...uefiDhcp, uefiTftp, ...ipxeDhcp, entry, installScript, kernel, initrd];
const installPhases = [
  phase(13 * S, 'ipxe_boot', 'completed', 'server'),
  phase(60 * S, 'foundation_start', 'in_progress'),
];

const cases: {
  name: string;
  events: BootEvent[];
  phases?: PhaseRecord[];
  now: number;
  verdict: VerdictKind;
  says: RegExp;
}[] = [
  { name: 'nothing at all', events: [], now: 0, verdict: 'no_dhcp', says: /no DHCP request/ },
  {
    name: 'a healthy UEFI boot to deployed',
    events: healthyUefi,
    phases: [...installPhases, phase(300 * S, 'deployed')],
    now: 400 * S,
    verdict: 'ok',
    says: /deployed/,
  },
  {
    name: 'DHCP ignored (not a PXE client)',
    events: [ev(0, 'dhcp', 'DISCOVER', 'ignored', { reason: 'not a PXE client' })],
    now: 5 * MIN,
    verdict: 'dhcp_ignored',
    says: /not a PXE client/,
  },
  {
    name: 'offered but never requested',
    events: [uefiDhcp[0]!],
    now: 5 * MIN,
    verdict: 'offered_not_requested',
    says: /never requested/,
  },
  {
    name: 'TFTP file not found',
    events: [...uefiDhcp, ev(3 * S, 'tftp', 'read', 'not_found', { file: 'snponly.efi' })],
    now: 5 * MIN,
    verdict: 'tftp_not_found',
    says: /TFTP file not found: snponly\.efi/,
  },
  {
    name: 'TFTP stalled at a block',
    events: [...uefiDhcp, ev(3 * S, 'tftp', 'read', 'timeout', { file: 'snponly.efi', block: 7, blksize: 1468 })],
    now: 5 * MIN,
    verdict: 'tftp_stalled',
    says: /stalled at block 7/,
  },
  {
    name: 'entry script but never the node script',
    events: [...ipxeDhcp, entry],
    now: 5 * MIN,
    verdict: 'no_node_script',
    says: /never its node script/,
  },
  {
    name: 'entry script just fetched: still under way',
    events: [...ipxeDhcp, entry],
    now: 13 * S,
    verdict: 'in_progress',
    says: /under way/,
  },
  {
    name: 'node script said wait',
    events: [...ipxeDhcp, entry, ev(13 * S, 'http', 'node_script', 'wait', { reason: 'no profile assigned' })],
    now: 5 * MIN,
    verdict: 'script_wait',
    says: /wait.*no profile assigned/,
  },
  {
    name: 'node script said deny (unknown machine)',
    events: [
      ...ipxeDhcp,
      entry,
      ev(13 * S, 'http', 'node_script', 'deny', { reason: 'unknown machine, boot.unknown=deny' }),
    ],
    now: 5 * MIN,
    verdict: 'script_deny',
    says: /deny.*unknown machine/,
  },
  {
    name: 'refused by the install round',
    events: [...ipxeDhcp, entry, ev(13 * S, 'http', 'node_script', 'refused', { reason: 'no open install round' })],
    now: 5 * MIN,
    verdict: 'script_refused',
    says: /no open install round/,
  },
  {
    name: 'initrd 404',
    events: [
      ...ipxeDhcp,
      entry,
      installScript,
      kernel,
      ev(15 * S, 'asset', 'asset', 'not_found', { path: 'debian/initrd.gz' }),
    ],
    now: 5 * MIN,
    verdict: 'asset_missing',
    says: /debian\/initrd\.gz 404/,
  },
  {
    name: 'kernel download aborted',
    events: [
      ...ipxeDhcp,
      entry,
      installScript,
      ev(14 * S, 'asset', 'asset', 'aborted', { path: 'debian/linux', bytes: 40, total: 100 }),
    ],
    now: 5 * MIN,
    verdict: 'asset_aborted',
    says: /aborted at 40 %/,
  },
  {
    name: 'installer booted, no phone-home',
    events: [...ipxeDhcp, entry, installScript, kernel, initrd],
    phases: [phase(13 * S, 'ipxe_boot', 'completed', 'server')],
    now: 30 * MIN,
    verdict: 'no_phone_home',
    says: /no phone-home within 20 min/,
  },
  {
    name: 'installer booted a minute ago',
    events: [...ipxeDhcp, entry, installScript, kernel, initrd],
    now: 2 * MIN,
    verdict: 'in_progress',
    says: /under way/,
  },
  {
    name: 'phone-home refused (wrong token)',
    events: [
      ...ipxeDhcp,
      entry,
      installScript,
      kernel,
      initrd,
      ev(60 * S, 'phone_home', 'phase', 'refused', { reason: 'wrong token' }),
    ],
    now: 2 * MIN,
    verdict: 'phone_home_refused',
    says: /wrong token/,
  },
  {
    name: 'phases stopped',
    events: healthyUefi,
    phases: [...installPhases, phase(90 * S, 'image_download', 'in_progress')],
    now: 3 * 60 * MIN,
    verdict: 'phase_stalled',
    says: /stopped at image_download/,
  },
  {
    name: 'installer reported failure',
    events: healthyUefi,
    phases: [...installPhases, phase(90 * S, 'failed', 'failed', 'installer', 'disk not found')],
    now: 5 * MIN,
    verdict: 'install_failed',
    says: /failed/,
  },
  {
    name: 'installed node netbooted again (PXE loop)',
    events: [
      ...healthyUefi,
      ev(500 * S, 'dhcp', 'DISCOVER', 'offer', { ipxe: true }),
      ev(501 * S, 'dhcp', 'REQUEST', 'ack', { ipxe: true }),
      ev(502 * S, 'http', 'entry_script', 'served'),
      ev(503 * S, 'http', 'node_script', 'local'),
    ],
    phases: [...installPhases, phase(300 * S, 'deployed')],
    now: 600 * S,
    verdict: 'pxe_loop',
    says: /PXE loop/,
  },
  {
    name: 'reprovisioned node netboots into a new install: not a loop',
    events: [
      ...healthyUefi,
      ev(500 * S, 'dhcp', 'DISCOVER', 'offer', { ipxe: true }),
      ev(503 * S, 'http', 'node_script', 'install'),
    ],
    phases: [...installPhases, phase(300 * S, 'deployed')],
    now: 510 * S,
    verdict: 'in_progress',
    says: /under way/,
  },
];

describe('verdictOf: why did it (not) boot', () => {
  for (const c of cases) {
    it(`${c.name} → ${c.verdict}`, () => {
      const verdict = verdictOf(c.events, c.phases ?? [], c.now, limits);
      expect(verdict.verdict, JSON.stringify(verdict)).to.equal(c.verdict);
      expect(verdict.summary).to.match(c.says);
      expect(verdict.evidence).to.be.an('array');
    });
  }

  it('gives a healthy boot its stage timings', () => {
    const verdict = verdictOf(healthyUefi, [...installPhases, phase(300 * S, 'deployed')], 400 * S, limits);
    expect(verdict.evidence).to.deep.equal([
      'DHCP → node script: 13.0 s',
      'node script → kernel: 1.0 s',
      'kernel → first phone-home: 46.0 s',
      'first phone-home → deployed: 240.0 s',
    ]);
  });
});

describe('boot attempts', () => {
  it("keeps iPXE's own DISCOVER after the firmware's TFTP in the same attempt", () => {
    expect(splitAttempts(healthyUefi)).to.have.length(1);
  });
  it('starts over at a DISCOVER after the boot reached HTTP, at a firmware retry after TFTP, and after a silence', () => {
    const retry = ev(60 * S, 'dhcp', 'DISCOVER', 'offer', { ipxe: false });
    expect(splitAttempts([...uefiDhcp, uefiTftp, retry])).to.have.length(2);
    expect(splitAttempts([...ipxeDhcp, entry, ev(20 * S, 'dhcp', 'DISCOVER', 'offer', { ipxe: true })])).to.have.length(
      2,
    );
    expect(splitAttempts([uefiDhcp[0]!, ev(31 * MIN, 'dhcp', 'REQUEST', 'ack')])).to.have.length(2);
  });
});

describe('boundDetail', () => {
  it('cuts what a caller controls: keys, key length, string length; drops undefined and non-finite', () => {
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]));
    expect(Object.keys(boundDetail(many))).to.have.length(16);
    const cut = boundDetail({ ['x'.repeat(100)]: 'y'.repeat(5000), gone: undefined, nan: Number.NaN });
    expect(Object.keys(cut)).to.deep.equal(['x'.repeat(32)]);
    expect(Object.values(cut)[0]).to.have.length(200);
  });
});
