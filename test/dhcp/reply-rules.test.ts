/**
 * RFC 2131 / 3046 / 6842 reply rules, as tables over the pure core: which
 * options are echoed, where a reply goes, how big it may be, when a REQUEST is
 * answered at all, and which stored addresses may be reservations.
 */
import { expect } from 'chai';
import {
  BROADCAST_FLAG,
  encodeDhcp,
  encodeValue,
  MessageType,
  Option,
  readClientRequest,
  type DhcpPacket,
} from '../../server/dhcp/codec.js';
import { clientPacket as request } from '../helpers/dhcp-packets.js';
import { buildReply, maxReplyBytes, replyDestination, type ReplySpec } from '../../server/dhcp/replies.js';
import { judgeRequest, requestState, type RequestFacts } from '../../server/dhcp/request-rules.js';
import { findReservationConflicts, reservationProblem } from '../../server/dhcp/reservations.js';

const SERVER = '10.77.1.1';
const AGENT_INFO = Buffer.from('0104657468300206020000000001', 'hex'); // circuit-id "eth0", remote-id
const DUID = Buffer.from('ff00000001000100012a2b2c2d020000000001', 'hex');

const ack = (extra: Partial<ReplySpec> = {}): ReplySpec => ({
  messageType: MessageType.ACK,
  serverId: SERVER,
  yiaddr: '10.77.1.100',
  leaseSeconds: 600,
  network: { subnetMask: '255.255.255.0', router: SERVER },
  ...extra,
});

function reply(req: DhcpPacket, spec: ReplySpec = ack()): DhcpPacket {
  return buildReply(req, readClientRequest(req), spec);
}

describe('dhcp reply rules', () => {
  describe('echoed options (RFC 3046 2.2, RFC 6842)', () => {
    const cases: { name: string; req: DhcpPacket; has82: boolean; has61: boolean }[] = [
      {
        name: 'relayed with 82',
        req: request(MessageType.REQUEST, { giaddr: '10.77.1.2' }, [[Option.RELAY_AGENT_INFO, AGENT_INFO]]),
        has82: true,
        has61: false,
      },
      {
        name: 'relayed with 82 and 61',
        req: request(MessageType.REQUEST, { giaddr: '10.77.1.2' }, [
          [Option.CLIENT_ID, DUID],
          [Option.RELAY_AGENT_INFO, AGENT_INFO],
        ]),
        has82: true,
        has61: true,
      },
      {
        name: 'relayed without 82',
        req: request(MessageType.REQUEST, { giaddr: '10.77.1.2' }),
        has82: false,
        has61: false,
      },
      {
        name: 'direct with a forged 82',
        req: request(MessageType.REQUEST, {}, [[Option.RELAY_AGENT_INFO, AGENT_INFO]]),
        has82: false,
        has61: false,
      },
      {
        name: 'direct with 61',
        req: request(MessageType.DISCOVER, {}, [[Option.CLIENT_ID, DUID]]),
        has82: false,
        has61: true,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const out = reply(c.req);
        expect(out.options.get(Option.RELAY_AGENT_INFO)?.equals(AGENT_INFO) ?? false).to.equal(c.has82);
        expect(out.options.get(Option.CLIENT_ID)?.equals(DUID) ?? false).to.equal(c.has61);
        if (c.has82) expect([...out.options.keys()].at(-1), '82 comes last').to.equal(Option.RELAY_AGENT_INFO);
      });
    }

    it('echoes on a NAK too', () => {
      const req = request(MessageType.REQUEST, { giaddr: '10.77.1.2' }, [
        [Option.CLIENT_ID, DUID],
        [Option.RELAY_AGENT_INFO, AGENT_INFO],
      ]);
      const out = reply(req, { messageType: MessageType.NAK, serverId: SERVER, message: 'no' });
      expect(out.options.has(Option.RELAY_AGENT_INFO) && out.options.has(Option.CLIENT_ID)).to.equal(true);
      expect(out.flags & BROADCAST_FLAG, 'a relayed NAK asks the relay to broadcast').to.equal(BROADCAST_FLAG);
    });
  });

  describe('where a reply goes (RFC 2131 4.1)', () => {
    const cases: { name: string; req: DhcpPacket; type: number; to: string; port: number }[] = [
      {
        name: 'relayed: to giaddr:67',
        req: request(MessageType.DISCOVER, { giaddr: '10.77.9.1' }),
        type: MessageType.OFFER,
        to: '10.77.9.1',
        port: 67,
      },
      {
        name: 'relayed NAK: to giaddr:67 too',
        req: request(MessageType.REQUEST, { giaddr: '10.77.9.1', ciaddr: '10.77.9.5' }),
        type: MessageType.NAK,
        to: '10.77.9.1',
        port: 67,
      },
      {
        name: 'renewing (ciaddr): unicast to ciaddr',
        req: request(MessageType.REQUEST, { ciaddr: '10.77.1.100' }),
        type: MessageType.ACK,
        to: '10.77.1.100',
        port: 68,
      },
      {
        name: 'INFORM: unicast to ciaddr',
        req: request(MessageType.INFORM, { ciaddr: '10.77.1.60' }),
        type: MessageType.ACK,
        to: '10.77.1.60',
        port: 68,
      },
      {
        name: 'ciaddr with the broadcast flag: still ciaddr',
        req: request(MessageType.REQUEST, { ciaddr: '10.77.1.100', flags: BROADCAST_FLAG }),
        type: MessageType.ACK,
        to: '10.77.1.100',
        port: 68,
      },
      {
        name: 'NAK without relay: broadcast, even with ciaddr',
        req: request(MessageType.REQUEST, { ciaddr: '10.77.1.100' }),
        type: MessageType.NAK,
        to: '255.255.255.255',
        port: 68,
      },
      {
        name: 'no address, broadcast flag: broadcast',
        req: request(MessageType.DISCOVER, { flags: BROADCAST_FLAG }),
        type: MessageType.OFFER,
        to: '255.255.255.255',
        port: 68,
      },
      // Kea and dnsmasq unicast to yiaddr here (raw socket + ARP entry); Node cannot, and every client accepts a broadcast.
      {
        name: 'no address, no flag: broadcast (deliberate)',
        req: request(MessageType.DISCOVER),
        type: MessageType.OFFER,
        to: '255.255.255.255',
        port: 68,
      },
    ];
    for (const c of cases) {
      it(c.name, () => expect(replyDestination(c.req, c.type)).to.deep.equal({ address: c.to, port: c.port }));
    }
  });

  describe('ciaddr in replies (RFC 2131 table 3)', () => {
    it('an ACK carries the ciaddr the server puts in its spec, an OFFER never', () => {
      const renewing = request(MessageType.REQUEST, { ciaddr: '10.77.1.100' });
      expect(reply(renewing, ack({ ciaddr: '10.77.1.100' })).ciaddr).to.equal('10.77.1.100');
      expect(reply(request(MessageType.DISCOVER), { ...ack(), messageType: MessageType.OFFER }).ciaddr).to.equal(
        '0.0.0.0',
      );
    });
  });

  describe('size (option 57; 576 without it)', () => {
    const big = ack({
      network: {
        subnetMask: '255.255.255.0',
        router: SERVER,
        dns: Array.from({ length: 60 }, (_, i) => `10.77.2.${i + 1}`),
        domain: 'x'.repeat(200),
      },
    });
    const cases: { name: string; max?: number; limit: number }[] = [
      { name: 'no option 57: 576 - 28 bytes', limit: 548 },
      { name: 'option 57 below the legal minimum counts as 576', max: 300, limit: 548 },
      { name: 'option 57 = 1500', max: 1500, limit: 1472 },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const req = request(MessageType.REQUEST, {}, c.max ? [[Option.MAX_MESSAGE_SIZE, encodeValue.u16(c.max)]] : []);
        expect(maxReplyBytes(req)).to.equal(c.limit);
        const out = reply(req, big);
        expect(encodeDhcp(out).length).to.be.at.most(c.limit);
        for (const code of [
          Option.MESSAGE_TYPE,
          Option.SERVER_ID,
          Option.LEASE_TIME,
          Option.SUBNET_MASK,
          Option.ROUTER,
        ])
          expect(out.options.has(code), `option ${code}`).to.equal(true);
      });
    }

    it('drops optional options rather than exceed, keeping what fits', () => {
      const out = reply(request(MessageType.REQUEST), big);
      expect(out.options.has(Option.DOMAIN_NAME), 'the domain goes first').to.equal(false);
      expect(out.options.has(Option.DNS_SERVERS), 'then DNS, only when still needed').to.equal(true);
    });

    it('keeps the boot options a PXE ROM needs, dropping name service first', () => {
      const pxe = request(MessageType.DISCOVER, {}, [
        [Option.VENDOR_CLASS, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
        [Option.PARAMETER_REQUEST_LIST, Buffer.from([1, 3, 6, 15, 66, 67])],
      ]);
      const boot = {
        kind: 'tftp' as const,
        bootFile: 'undionly.kpxe',
        nextServer: SERVER,
        vendorClass: 'PXEClient' as const,
      };
      const out = reply(pxe, { ...big, messageType: MessageType.OFFER, boot });
      expect(encodeDhcp(out).length).to.be.at.most(548);
      for (const code of [Option.VENDOR_CLASS, Option.VENDOR_SPECIFIC, Option.BOOTFILE_NAME, Option.TFTP_SERVER_NAME])
        expect(out.options.has(code), `option ${code}`).to.equal(true);
      expect(out.options.has(Option.DOMAIN_NAME)).to.equal(false);
      expect(out.file).to.equal('undionly.kpxe');
    });
  });

  describe('answering a REQUEST (RFC 2131 4.3.2)', () => {
    const base: RequestFacts = {
      state: 'init-reboot',
      ip: '10.77.1.100',
      onSubnet: true,
      recorded: '10.77.1.100',
      authoritative: false,
    };
    const cases: { name: string; facts: Partial<RequestFacts>; action: string }[] = [
      { name: 'INIT-REBOOT, known address', facts: {}, action: 'bind' },
      {
        name: 'INIT-REBOOT, unknown client, not authoritative: silent',
        facts: { recorded: undefined },
        action: 'silent',
      },
      {
        name: 'INIT-REBOOT, unknown client, authoritative: NAK',
        facts: { recorded: undefined, authoritative: true },
        action: 'nak',
      },
      { name: 'INIT-REBOOT, another address than on record: NAK', facts: { ip: '10.77.1.120' }, action: 'nak' },
      {
        name: 'INIT-REBOOT, wrong subnet: NAK even when not authoritative',
        facts: { onSubnet: false, recorded: undefined },
        action: 'nak',
      },
      { name: 'SELECTING: the lease book decides', facts: { state: 'selecting', recorded: undefined }, action: 'bind' },
      {
        name: 'RENEWING, unknown client: the lease book decides',
        facts: { state: 'renewing', recorded: undefined },
        action: 'bind',
      },
      { name: 'RENEWING on the wrong subnet: NAK', facts: { state: 'renewing', onSubnet: false }, action: 'nak' },
    ];
    for (const c of cases) it(c.name, () => expect(judgeRequest({ ...base, ...c.facts }).action).to.equal(c.action));

    const states: { name: string; req: DhcpPacket; state: string | null }[] = [
      {
        name: 'server id: SELECTING',
        req: request(MessageType.REQUEST, {}, [
          [Option.SERVER_ID, encodeValue.ip(SERVER)],
          [Option.REQUESTED_IP, encodeValue.ip('10.77.1.100')],
        ]),
        state: 'selecting',
      },
      {
        name: 'option 50 only: INIT-REBOOT',
        req: request(MessageType.REQUEST, {}, [[Option.REQUESTED_IP, encodeValue.ip('10.77.1.100')]]),
        state: 'init-reboot',
      },
      {
        name: 'ciaddr: RENEWING or REBINDING',
        req: request(MessageType.REQUEST, { ciaddr: '10.77.1.100' }),
        state: 'renewing',
      },
      { name: 'nothing: not a valid REQUEST', req: request(MessageType.REQUEST), state: null },
    ];
    for (const c of states)
      it(`state: ${c.name}`, () => expect(requestState(c.req, readClientRequest(c.req))).to.equal(c.state));
  });

  describe('which stored addresses can be reservations', () => {
    const dhcp = {
      serverIp: '10.77.1.1',
      pool: { start: '10.77.1.100', subnetMask: '255.255.255.0', router: '10.77.1.254' },
    };
    const cases: { ip: string; problem: RegExp | null }[] = [
      { ip: '10.77.1.20', problem: null },
      { ip: '10.77.1.120', problem: null },
      { ip: '10.77.1.1', problem: /homeport's own address/ },
      { ip: '10.77.1.254', problem: /router/ },
      { ip: '10.77.1.0', problem: /network address/ },
      { ip: '10.77.1.255', problem: /broadcast address/ },
      { ip: '10.77.2.20', problem: /not on the DHCP subnet/ },
      { ip: 'fd00::20', problem: /not an IPv4 address/ },
      { ip: '2001:db8::1', problem: /not an IPv4 address/ },
    ];
    for (const c of cases) {
      it(`${c.ip}: ${c.problem ?? 'fine'}`, () => {
        const problem = reservationProblem(c.ip, dhcp);
        if (c.problem === null) expect(problem).to.equal(null);
        else expect(problem).to.match(c.problem);
      });
    }

    it('finds reservations whose address another MAC is bound to', () => {
      const now = 1000;
      const reservations = new Map([
        ['02:00:00:00:00:0a', '10.77.1.20'],
        ['02:00:00:00:00:0b', '10.77.1.21'],
        ['02:00:00:00:00:0c', '10.77.1.22'],
      ]);
      const leases = [
        { mac: '02:00:00:00:00:99', ip: '10.77.1.20', state: 'bound', expiresAt: 2000 },
        { mac: '02:00:00:00:00:98', ip: '10.77.1.21', state: 'bound', expiresAt: 500 }, // expired
        { mac: '02:00:00:00:00:0c', ip: '10.77.1.22', state: 'bound', expiresAt: 2000 }, // its own
      ];
      expect(findReservationConflicts(reservations, leases, now)).to.deep.equal([
        { mac: '02:00:00:00:00:0a', ip: '10.77.1.20', holder: '02:00:00:00:00:99' },
      ]);
    });
  });
});
