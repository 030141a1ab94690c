/**
 * The full-mode lease state machine as a table (pure: no socket, no database).
 * Each case sets up the lease book, sends one client message, plays the
 * store's answers to the steps the machine asks for, and checks the answer,
 * the lease claims written, the store lookups and the warnings.
 */
import { expect } from 'chai';
import { encodeValue, MESSAGE_TYPE_NAMES, MessageType, Option, readClientRequest } from '../../server/dhcp/codec.js';
import type { DhcpPacket } from '../../server/dhcp/codec.js';
import { FullMode, type FullModeSettings, type Step } from '../../server/dhcp/full-mode.js';
import { declinedPlaceholderMac, type Lease } from '../../server/dhcp/leases.js';
import type { Answer } from '../../server/dhcp/replies.js';
import type { ClaimOutcome, LeaseClaim, Reservation } from '../../server/store/dhcp-leases-repo.js';
import { CLIENT_MAC, clientPacket } from '../helpers/dhcp-packets.js';

const SERVER = '10.77.1.1';
const OTHER_SERVER = '10.77.1.2';
const OTHER_MAC = '02:00:00:00:00:02';
const THIRD_MAC = '02:00:00:00:00:03';
const NOW = 1_000_000_000;
const LEASE_MS = 600_000;
const HOLD_MS = 5_000;
// Three addresses, so that exhausting the pool takes three leases.
const settings: FullModeSettings = {
  serverIp: SERVER,
  pool: { start: '10.77.1.100', end: '10.77.1.102', subnetMask: '255.255.255.0', router: SERVER, leaseSeconds: 600 },
  authoritative: false,
  offerHoldSeconds: HOLD_MS / 1000,
  bootFor: () => undefined,
};

const lease = (mac: string, ip: string, state: Lease['state'], expiresAt = NOW + LEASE_MS): Lease => ({
  mac,
  ip,
  state,
  expiresAt,
});
const opt50 = (ip: string): [number, Buffer] => [Option.REQUESTED_IP, encodeValue.ip(ip)];
const opt54 = (ip: string): [number, Buffer] => [Option.SERVER_ID, encodeValue.ip(ip)];
const discover = (...options: [number, Buffer][]) => clientPacket(MessageType.DISCOVER, {}, options);
const request = (fields: Partial<DhcpPacket>, ...options: [number, Buffer][]) =>
  clientPacket(MessageType.REQUEST, fields, options);
/** The store's answer when another instance holds the claimed address. */
const heldBy =
  (mac: string, state: Lease['state']) =>
  (claim: LeaseClaim): ClaimOutcome => ({ ok: false, holder: lease(mac, claim.lease.ip, state) });

interface Case {
  name: string;
  leases?: Lease[];
  reservations?: [mac: string, ip: string, hostname?: string][];
  authoritative?: boolean;
  packet: DhcpPacket;
  /** The store's answer to each claim, in order (then: every claim succeeds). */
  claims?: ((claim: LeaseClaim) => ClaimOutcome)[];
  /** What the store holds for a MAC the book does not know. */
  stored?: Lease;
  answer: string;
  written?: string[];
  lookups?: string[];
  warnings?: RegExp[];
  /** Details the one-line summaries leave out. */
  check?: (answer: Answer, written: LeaseClaim[]) => void;
}

const cases: Case[] = [
  // DHCPDISCOVER (RFC 2131 4.3.1)
  {
    name: 'DHCPDISCOVER from a new client: DHCPOFFER of a free address, held in the store before it is sent',
    packet: discover(),
    answer: 'OFFER 10.77.1.100',
    written: [`offered 10.77.1.100 to ${CLIENT_MAC} (offer)`],
    check: (answer) => expect(answer).to.include({ leaseSeconds: 600, serverId: SERVER }),
  },
  {
    name: "DHCPDISCOVER with a 'requested IP address' option: that address is offered when it is free",
    packet: discover(opt50('10.77.1.102')),
    answer: 'OFFER 10.77.1.102',
    written: [`offered 10.77.1.102 to ${CLIENT_MAC} (offer)`],
  },
  {
    name: "DHCPDISCOVER from a client with a current binding: the client's current address",
    leases: [lease(CLIENT_MAC, '10.77.1.101', 'bound')],
    packet: discover(opt50('10.77.1.102')),
    answer: 'OFFER 10.77.1.101',
    written: [`bound 10.77.1.101 to ${CLIENT_MAC} (offer)`],
  },
  {
    name: 'DHCPDISCOVER from a client with a reservation: its reserved address, with its host name',
    reservations: [[CLIENT_MAC, '10.77.1.50', 'node-1']],
    packet: discover(),
    answer: 'OFFER 10.77.1.50',
    written: [`offered 10.77.1.50 to ${CLIENT_MAC} (offer)`],
    check: (answer) => expect(answer).to.include({ hostname: 'node-1' }),
  },
  {
    name: 'DHCPDISCOVER from a reserved client whose address another client is bound to: a pool address, and a warning',
    reservations: [[CLIENT_MAC, '10.77.1.101']],
    leases: [lease(OTHER_MAC, '10.77.1.101', 'bound')],
    packet: discover(),
    answer: 'OFFER 10.77.1.100',
    written: [`offered 10.77.1.100 to ${CLIENT_MAC} (offer)`],
    warnings: [/reserved address 10\.77\.1\.101 of 02:00:00:00:00:01 is leased to 02:00:00:00:00:02/],
  },
  {
    name: "DHCPDISCOVER while another client's offer of the requested address is held: another address",
    leases: [lease(OTHER_MAC, '10.77.1.100', 'offered', NOW + HOLD_MS)],
    packet: discover(opt50('10.77.1.100')),
    answer: 'OFFER 10.77.1.101',
    written: [`offered 10.77.1.101 to ${CLIENT_MAC} (offer)`],
  },
  {
    name: "DHCPDISCOVER after another client's offer of the requested address has expired: that address",
    leases: [lease(OTHER_MAC, '10.77.1.100', 'offered', NOW - 1)],
    packet: discover(opt50('10.77.1.100')),
    answer: 'OFFER 10.77.1.100',
    written: [`offered 10.77.1.100 to ${CLIENT_MAC} (offer)`],
  },
  {
    name: 'DHCPDISCOVER for an address declined by another client (RFC 2131 3.1.5): not offered while quarantined',
    leases: [lease(declinedPlaceholderMac('10.77.1.100'), '10.77.1.100', 'declined')],
    packet: discover(opt50('10.77.1.100')),
    answer: 'OFFER 10.77.1.101',
    written: [`offered 10.77.1.101 to ${CLIENT_MAC} (offer)`],
  },
  {
    name: 'DHCPDISCOVER for a declined address whose quarantine has ended: offered again',
    leases: [lease(declinedPlaceholderMac('10.77.1.100'), '10.77.1.100', 'declined', NOW - 1)],
    packet: discover(opt50('10.77.1.100')),
    answer: 'OFFER 10.77.1.100',
    written: [`offered 10.77.1.100 to ${CLIENT_MAC} (offer)`],
  },
  {
    name: 'DHCPDISCOVER when every address is bound: no DHCPOFFER (pool exhausted)',
    leases: ['10.77.1.100', '10.77.1.101', '10.77.1.102'].map((ip, i) => lease(`02:00:00:00:01:0${i}`, ip, 'bound')),
    packet: discover(),
    answer: 'ignored: pool exhausted',
  },
  {
    name: "DHCPDISCOVER when every free address is held by other clients' offers: the oldest offer gives way",
    leases: [
      lease(OTHER_MAC, '10.77.1.100', 'offered', NOW + 2000),
      lease(THIRD_MAC, '10.77.1.101', 'offered', NOW + 1000),
      lease('02:00:00:00:01:00', '10.77.1.102', 'bound'),
    ],
    packet: discover(),
    answer: 'OFFER 10.77.1.101',
    written: [`offered 10.77.1.101 to ${CLIENT_MAC} (offer) preempting ${THIRD_MAC}`],
  },
  {
    name: 'DHCPDISCOVER when the store says another server instance holds the chosen address: the next one',
    packet: discover(),
    claims: [heldBy(OTHER_MAC, 'bound')],
    answer: 'OFFER 10.77.1.101',
    written: [`offered 10.77.1.100 to ${CLIENT_MAC} (offer)`, `offered 10.77.1.101 to ${CLIENT_MAC} (offer)`],
  },
  {
    name: 'DHCPDISCOVER when the store refuses every address tried: no DHCPOFFER after 8 attempts',
    packet: discover(),
    claims: Array<(claim: LeaseClaim) => ClaimOutcome>(8).fill(heldBy(OTHER_MAC, 'offered')),
    answer: 'ignored: every address tried is held by another instance',
    // Each refusal names the same other client, whose record moves with it: the book cycles through the pool.
    written: [0, 1, 2, 0, 1, 2, 0, 1].map((i) => `offered 10.77.1.10${i} to ${CLIENT_MAC} (offer)`),
  },
  {
    name: 'DHCPDISCOVER relayed (giaddr) from a subnet without a pool: ignored',
    packet: clientPacket(MessageType.DISCOVER, { giaddr: '10.99.0.1' }),
    answer: 'ignored: relay from a subnet without a pool',
  },
  // DHCPREQUEST (RFC 2131 4.3.2)
  {
    name: "DHCPREQUEST, SELECTING state ('server identifier' is this server): DHCPACK once the binding is on disk",
    leases: [lease(CLIENT_MAC, '10.77.1.100', 'offered', NOW + HOLD_MS)],
    packet: request({}, opt50('10.77.1.100'), opt54(SERVER)),
    answer: 'ACK 10.77.1.100',
    written: [`bound 10.77.1.100 to ${CLIENT_MAC}`],
    check: (answer, [written]) => {
      expect(answer).to.include({ leaseSeconds: 600, ciaddr: undefined });
      expect(written!.lease.expiresAt).to.equal(NOW + LEASE_MS);
    },
  },
  {
    name: "DHCPREQUEST, SELECTING state, 'server identifier' of another server: the client chose another offer, no reply",
    leases: [lease(CLIENT_MAC, '10.77.1.100', 'offered', NOW + HOLD_MS)],
    packet: request({}, opt50('10.77.1.100'), opt54(OTHER_SERVER)),
    answer: 'ignored: client chose another server',
  },
  {
    name: 'DHCPREQUEST, SELECTING state, for an address another client is bound to: DHCPNAK',
    leases: [lease(OTHER_MAC, '10.77.1.100', 'bound')],
    packet: request({}, opt50('10.77.1.100'), opt54(SERVER)),
    answer: `NAK address 10.77.1.100 is not available to ${CLIENT_MAC}`,
  },
  {
    name: 'DHCPREQUEST, SELECTING state, when the store says another server instance bound the address: DHCPNAK',
    leases: [lease(CLIENT_MAC, '10.77.1.100', 'offered', NOW + HOLD_MS)],
    packet: request({}, opt50('10.77.1.100'), opt54(SERVER)),
    claims: [heldBy(OTHER_MAC, 'bound')],
    answer: 'NAK address 10.77.1.100 is in use',
    written: [`bound 10.77.1.100 to ${CLIENT_MAC}`],
  },
  {
    name: "DHCPREQUEST, INIT-REBOOT state, for the client's recorded address: DHCPACK",
    leases: [lease(CLIENT_MAC, '10.77.1.101', 'bound')],
    packet: request({}, opt50('10.77.1.101')),
    answer: 'ACK 10.77.1.101',
    written: [`bound 10.77.1.101 to ${CLIENT_MAC}`],
  },
  {
    name: "DHCPREQUEST, INIT-REBOOT state, 'requested IP address' is not the recorded one: DHCPNAK",
    leases: [lease(CLIENT_MAC, '10.77.1.101', 'bound')],
    packet: request({}, opt50('10.77.1.102')),
    answer: "NAK 10.77.1.102 is not this client's address (10.77.1.101 is)",
  },
  {
    name: 'DHCPREQUEST, INIT-REBOOT state, on the wrong network: DHCPNAK even when not authoritative',
    packet: request({}, opt50('192.168.5.20')),
    answer: 'NAK 192.168.5.20 is not on this network',
    lookups: [CLIENT_MAC],
  },
  {
    name: 'DHCPREQUEST, INIT-REBOOT state, from a client with no record, not authoritative: no reply (RFC 2131 4.3.2)',
    packet: request({}, opt50('10.77.1.101')),
    answer: 'ignored: INIT-REBOOT from a client this server has no record of',
    lookups: [CLIENT_MAC],
  },
  {
    name: 'DHCPREQUEST, INIT-REBOOT state, from a client with no record, authoritative: DHCPNAK',
    authoritative: true,
    packet: request({}, opt50('10.77.1.101')),
    answer: 'NAK no record of this client (authoritative)',
    lookups: [CLIENT_MAC],
  },
  {
    name: "DHCPREQUEST, INIT-REBOOT state, from a client another server instance bound: the store's record, DHCPACK",
    stored: lease(CLIENT_MAC, '10.77.1.101', 'bound'),
    packet: request({}, opt50('10.77.1.101')),
    answer: 'ACK 10.77.1.101',
    written: [`bound 10.77.1.101 to ${CLIENT_MAC}`],
    lookups: [CLIENT_MAC],
  },
  {
    name: 'DHCPREQUEST, INIT-REBOOT state, for a reserved address: DHCPACK without asking the store',
    reservations: [[CLIENT_MAC, '10.77.1.50']],
    packet: request({}, opt50('10.77.1.50')),
    answer: 'ACK 10.77.1.50',
    written: [`bound 10.77.1.50 to ${CLIENT_MAC}`],
  },
  {
    name: "DHCPREQUEST, RENEWING state ('ciaddr' filled in): DHCPACK extending the lease, 'ciaddr' echoed",
    leases: [lease(CLIENT_MAC, '10.77.1.101', 'bound', NOW + 1000)],
    packet: request({ ciaddr: '10.77.1.101' }),
    answer: 'ACK 10.77.1.101',
    written: [`bound 10.77.1.101 to ${CLIENT_MAC}`],
    check: (answer, [written]) => {
      expect(answer).to.include({ ciaddr: '10.77.1.101' });
      expect(written!.lease.expiresAt).to.equal(NOW + LEASE_MS);
    },
  },
  {
    name: "DHCPREQUEST with neither 'server identifier', 'requested IP address' nor 'ciaddr': no reply",
    packet: request({}),
    answer: 'ignored: REQUEST without an address',
  },
  // DHCPDECLINE, DHCPRELEASE, DHCPINFORM (RFC 2131 4.3.3 to 4.3.5)
  {
    name: 'DHCPDECLINE of the address offered to the client: quarantined under a placeholder, no reply',
    leases: [lease(CLIENT_MAC, '10.77.1.100', 'offered', NOW + HOLD_MS)],
    packet: clientPacket(MessageType.DECLINE, {}, [opt50('10.77.1.100'), opt54(SERVER)]),
    answer: 'ignored: DECLINE needs no reply',
    written: [`declined 10.77.1.100 to ${declinedPlaceholderMac('10.77.1.100')} replacing ${CLIENT_MAC}`],
    warnings: [/declined: another host uses it/],
  },
  {
    name: 'DHCPDECLINE of an address the client does not hold: nothing written, no reply',
    leases: [lease(OTHER_MAC, '10.77.1.100', 'bound')],
    packet: clientPacket(MessageType.DECLINE, {}, [opt50('10.77.1.100'), opt54(SERVER)]),
    answer: 'ignored: DECLINE needs no reply',
    warnings: [/declined: another host uses it/],
  },
  {
    name: "DHCPRELEASE of the client's address: the lease is released (and remembered), no reply",
    leases: [lease(CLIENT_MAC, '10.77.1.100', 'bound')],
    packet: clientPacket(MessageType.RELEASE, { ciaddr: '10.77.1.100' }, [opt54(SERVER)]),
    answer: 'ignored: RELEASE needs no reply',
    written: [`released 10.77.1.100 to ${CLIENT_MAC}`],
  },
  {
    name: 'DHCPRELEASE of an address the client does not hold: nothing written',
    leases: [lease(OTHER_MAC, '10.77.1.100', 'bound')],
    packet: clientPacket(MessageType.RELEASE, { ciaddr: '10.77.1.100' }, [opt54(SERVER)]),
    answer: 'ignored: RELEASE needs no reply',
  },
  {
    name: "DHCPINFORM: DHCPACK with the network's parameters, no address and no lease time (RFC 2131 3.4)",
    packet: clientPacket(MessageType.INFORM, { ciaddr: '10.77.1.200' }),
    answer: 'ACK -',
    check: (answer) => {
      expect(answer).to.include({ ciaddr: '10.77.1.200' });
      expect(answer).to.not.have.any.keys('yiaddr', 'leaseSeconds');
      expect(answer).to.have.nested.property('network.subnetMask', '255.255.255.0');
    },
  },
  {
    name: 'a server message (DHCPOFFER) from a client: ignored',
    packet: clientPacket(MessageType.OFFER),
    answer: 'ignored: unexpected message type',
  },
];

describe('dhcp full mode: the lease state machine (RFC 2131)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const machine = new FullMode({ ...settings, authoritative: c.authoritative ?? false }, c.leases ?? []);
      machine.setReservations(reservationsOf(c.reservations ?? []));
      const run = runSteps(machine.decide(c.packet, readClientRequest(c.packet), NOW), c);
      expect(summarise(run.answer)).to.equal(c.answer);
      expect(run.written.map(describeClaim)).to.deep.equal(c.written ?? []);
      expect(run.lookups).to.deep.equal(c.lookups ?? []);
      expect(run.warnings).to.have.length((c.warnings ?? []).length);
      (c.warnings ?? []).forEach((pattern, i) => expect(run.warnings[i]).to.match(pattern));
      c.check?.(run.answer, run.written);
    });
  }

  it('warns of a reservation it cannot hand out once, not at every refresh', () => {
    const machine = new FullMode(settings, []);
    const reservations = reservationsOf([[CLIENT_MAC, SERVER]]);
    expect(machine.setReservations(reservations).map((w) => w.text)).to.deep.equal([
      `dhcp reservation of ${CLIENT_MAC} skipped: ${SERVER} is homeport's own address (dhcp.serverIp); it gets a pool address`,
    ]);
    expect(machine.setReservations(reservations)).to.deep.equal([]);
  });

  it('warns of a blocked reservation once, not at every DISCOVER', () => {
    const machine = new FullMode(settings, [lease(OTHER_MAC, '10.77.1.101', 'bound')]);
    machine.setReservations(reservationsOf([[CLIENT_MAC, '10.77.1.101']]));
    const warnings = () => runSteps(machine.decide(discover(), readClientRequest(discover()), NOW), {}).warnings;
    expect(warnings()).to.have.length(1);
    expect(warnings()).to.deep.equal([]);
  });
});

function reservationsOf(list: [mac: string, ip: string, hostname?: string][]): Map<string, Reservation> {
  return new Map(list.map(([mac, ip, hostname]) => [mac, { ip, hostname: hostname ?? null }]));
}

/** Plays the store for the machine: claims answered from `claims` (then ok), lookups from `stored`. */
function runSteps(first: Step, store: Pick<Case, 'claims' | 'stored'>) {
  const written: LeaseClaim[] = [];
  const lookups: string[] = [];
  const warnings: string[] = [];
  let step = first;
  for (;;) {
    warnings.push(...(step.warnings ?? []).map((w) => w.text));
    if ('answer' in step) return { answer: step.answer, written, lookups, warnings };
    if ('claim' in step) {
      written.push(step.claim);
      const storeSays = store.claims?.[written.length - 1];
      step = step.then(storeSays ? storeSays(step.claim) : { ok: true });
    } else {
      lookups.push(step.lookup);
      step = step.then(store.stored?.mac === step.lookup ? store.stored : undefined);
    }
  }
}

/** 'OFFER 10.77.1.100', 'NAK <message>', 'ignored: <reason>'. */
function summarise(answer: Answer): string {
  if ('ignored' in answer) return `ignored: ${answer.ignored}`;
  const type = MESSAGE_TYPE_NAMES[answer.messageType];
  return answer.messageType === MessageType.NAK ? `${type} ${answer.message}` : `${type} ${answer.yiaddr ?? '-'}`;
}

function describeClaim({ lease, offer, replaces }: LeaseClaim): string {
  return [
    `${lease.state} ${lease.ip} to ${lease.mac}`,
    offer ? ' (offer)' : '',
    lease.preempts ? ` preempting ${lease.preempts}` : '',
    replaces ? ` replacing ${replaces}` : '',
  ].join('');
}
