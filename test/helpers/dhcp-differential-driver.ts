/**
 * Plays the DHCP conformance cases against one server and prints what it
 * answered, for test/dhcp/differential.test.ts, which runs it against homeport,
 * Kea and dnsmasq in turn. Run inside a client namespace whose eth0 holds
 * `client` (a direct client that already has an address, so it can send from
 * port 68) and `relay` (a relay agent's giaddr):
 *   ip netns exec NS node --import tsx test/helpers/dhcp-differential-driver.ts '<json DriverSpec>'
 * Prints one JSON line: Record<case name, Observation>.
 *
 * Where a reply went is told by the socket it reached: one bound to
 * 255.255.255.255:68 gets only broadcasts, one bound to an address of ours
 * only unicast to it (Node cannot read a datagram's destination otherwise).
 * Every wait is bounded; each case uses its own MAC so cases do not share leases.
 */
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import {
  BOOTREQUEST,
  BROADCAST_FLAG,
  encodeDhcp,
  encodeValue,
  macToChaddr,
  MessageType,
  Option,
  parseDhcp,
  type DhcpPacket,
} from '../../server/dhcp/codec.js';

export interface DriverSpec {
  server: string;
  client: string;
  relay: string;
  /** Prefix of the subnet, e.g. '10.77.40'; the client's leases get added to eth0 for unicast cases. */
  prefix: number;
  /** An address on another network, for the wrong-subnet INIT-REBOOT. */
  foreignIp: string;
  /** An unused pool address, for the unknown INIT-REBOOT. */
  unknownIp: string;
  /** Second byte of the MACs this run uses, so runs against different servers never share a client. */
  macByte: number;
  /** Option 82 the relayed cases carry. */
  agentInfoHex: string;
  waitMs: number;
}

export interface Observation {
  silent: boolean;
  type?: string;
  yiaddr?: string;
  ciaddr?: string;
  siaddr?: string;
  /** Options 1, 3, 6, 15, 51, 54, 61, 82 as hex, when present. */
  options?: Record<string, string>;
  /** broadcast:68, unicast <ip>:68, relay <ip>:67 */
  to?: string;
  /** Size of the DHCP message (UDP payload). */
  bytes?: number;
  /** Replies beyond the first, if any (e.g. an OFFER to a case that expected silence). */
  extra?: number;
  note?: string;
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(MessageType).map(([name, code]) => [code, name]),
);
/** The options compared; 6 and 15 show what a size limit made a server leave out. */
const SHOWN_OPTIONS = [
  Option.SUBNET_MASK,
  Option.ROUTER,
  Option.DNS_SERVERS,
  Option.DOMAIN_NAME,
  Option.LEASE_TIME,
  Option.SERVER_ID,
  Option.CLIENT_ID,
  Option.RELAY_AGENT_INFO,
];

interface Received {
  packet: DhcpPacket;
  to: string;
  bytes: number;
}

class Endpoints {
  private readonly sockets: dgram.Socket[] = [];
  private readonly inbox: Received[] = [];

  async listen(address: string, port: number, label: string): Promise<dgram.Socket> {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    socket.on('message', (msg) => {
      const parsed = parseDhcp(msg);
      if (parsed.ok && parsed.packet.op === 2) this.inbox.push({ packet: parsed.packet, to: label, bytes: msg.length });
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => resolve());
    });
    socket.setBroadcast(true);
    this.sockets.push(socket);
    return socket;
  }

  /** Sends, then collects every reply with this xid for waitMs. */
  async exchange(
    from: dgram.Socket,
    packet: DhcpPacket | Buffer,
    to: string,
    xid: number,
    waitMs: number,
  ): Promise<Received[]> {
    const bytes = Buffer.isBuffer(packet) ? packet : encodeDhcp(packet);
    await new Promise<void>((resolve, reject) => from.send(bytes, 67, to, (err) => (err ? reject(err) : resolve())));
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    const mine = this.inbox.filter((r) => r.packet.xid === xid);
    this.inbox.splice(0, this.inbox.length, ...this.inbox.filter((r) => r.packet.xid !== xid));
    return mine;
  }

  close(): void {
    for (const socket of this.sockets) socket.close();
  }
}

let xidCounter = Math.floor(Math.random() * 0x7fff0000);

function packet(
  mac: string,
  type: number,
  fields: Partial<DhcpPacket> = {},
  options: [number, Buffer][] = [],
): DhcpPacket {
  return {
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: ++xidCounter,
    secs: 0,
    flags: BROADCAST_FLAG,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: macToChaddr(mac),
    sname: '',
    file: '',
    options: new Map([[Option.MESSAGE_TYPE, encodeValue.u8(type)], ...options]),
    ...fields,
  };
}

const clientId = (mac: string) => Buffer.concat([Buffer.from([1]), Buffer.from(mac.replace(/:/g, ''), 'hex')]);
const PRL: [number, Buffer] = [Option.PARAMETER_REQUEST_LIST, Buffer.from([1, 3, 6, 15, 28, 42, 51, 54, 58, 59])];

function observe(replies: Received[]): Observation {
  const first = replies[0];
  if (!first) return { silent: true };
  const p = first.packet;
  const type = p.options.get(Option.MESSAGE_TYPE)?.[0];
  const options = Object.fromEntries(
    SHOWN_OPTIONS.filter((c) => p.options.has(c)).map((c) => [String(c), p.options.get(c)!.toString('hex')]),
  );
  return {
    silent: false,
    type: type === undefined ? 'none' : (TYPE_NAMES[type] ?? String(type)),
    yiaddr: p.yiaddr,
    ciaddr: p.ciaddr,
    siaddr: p.siaddr,
    options,
    to: first.to,
    bytes: first.bytes,
    ...(replies.length > 1 ? { extra: replies.length - 1 } : {}),
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as DriverSpec;
  const io = new Endpoints();
  await io.listen('255.255.255.255', 68, 'broadcast:68');
  const client = await io.listen(spec.client, 68, `unicast ${spec.client}:68`);
  const relay = await io.listen(spec.relay, 67, `${spec.relay}:67`);
  const results: Record<string, Observation> = {};
  const AGENT_INFO = Buffer.from(spec.agentInfoHex, 'hex');
  let macCount = 0;
  const newMac = () =>
    `02:${spec.macByte.toString(16).padStart(2, '0')}:00:00:00:${(++macCount).toString(16).padStart(2, '0')}`;
  const wait = spec.waitMs;
  const direct = (p: DhcpPacket) => io.exchange(client, p, '255.255.255.255', p.xid, wait);
  const relayed = (p: DhcpPacket) =>
    io.exchange(relay, { ...p, giaddr: spec.relay, hops: 1, flags: 0 }, spec.server, p.xid, wait);

  /** DISCOVER then REQUEST (SELECTING); returns the bound address, or undefined. */
  async function bind(mac: string): Promise<string | undefined> {
    const [offer] = await direct(packet(mac, MessageType.DISCOVER));
    if (!offer) return undefined;
    const ip = offer.packet.yiaddr;
    const [ack] = await direct(
      packet(mac, MessageType.REQUEST, {}, [
        [Option.REQUESTED_IP, encodeValue.ip(ip)],
        [Option.SERVER_ID, encodeValue.ip(spec.server)],
      ]),
    );
    return ack?.packet.options.get(Option.MESSAGE_TYPE)?.[0] === MessageType.ACK ? ip : undefined;
  }

  /** A bound address on eth0 with a socket on it, as a renewing client has. */
  async function asClientOf(ip: string, use: (socket: dgram.Socket) => Promise<Received[]>): Promise<Received[]> {
    execFileSync('ip', ['addr', 'add', `${ip}/${spec.prefix}`, 'dev', 'eth0']);
    try {
      const socket = await io.listen(ip, 68, `unicast ${ip}:68`);
      return await use(socket);
    } finally {
      execFileSync('ip', ['addr', 'del', `${ip}/${spec.prefix}`, 'dev', 'eth0']);
    }
  }

  /** Binds a fresh MAC first, then plays the measured packet as that client. */
  const withLease = async (name: string, play: (mac: string, ip: string) => Promise<Received[]>) => {
    const mac = newMac();
    const ip = await bind(mac);
    results[name] = ip ? observe(await play(mac, ip)) : { silent: true, note: 'setup failed: no lease to start from' };
  };
  /** RENEWING and REBINDING: ciaddr set, no option 50 or 54 (RFC 2131 4.3.2), sent from the leased address. */
  const renew = (mac: string, ip: string, to: string) =>
    asClientOf(ip, (socket) => {
      const p = packet(mac, MessageType.REQUEST, { ciaddr: ip, flags: 0 });
      return io.exchange(socket, p, to, p.xid, wait);
    });

  {
    const mac = newMac();
    results['DISCOVER direct, 61'] = observe(
      await direct(packet(mac, MessageType.DISCOVER, {}, [[Option.CLIENT_ID, clientId(mac)], PRL])),
    );
  }
  {
    const mac = newMac();
    const [offer] = await direct(packet(mac, MessageType.DISCOVER, {}, [[Option.CLIENT_ID, clientId(mac)]]));
    const ip = offer?.packet.yiaddr ?? spec.unknownIp;
    results['REQUEST direct (SELECTING), 61'] = observe(
      await direct(
        packet(mac, MessageType.REQUEST, {}, [
          [Option.CLIENT_ID, clientId(mac)],
          [Option.REQUESTED_IP, encodeValue.ip(ip)],
          [Option.SERVER_ID, encodeValue.ip(spec.server)],
          PRL,
        ]),
      ),
    );
  }
  {
    const mac = newMac();
    results['DISCOVER direct, forged 82'] = observe(
      await direct(packet(mac, MessageType.DISCOVER, {}, [[Option.RELAY_AGENT_INFO, AGENT_INFO]])),
    );
  }
  {
    const mac = newMac();
    const opts: [number, Buffer][] = [[Option.CLIENT_ID, clientId(mac)], PRL, [Option.RELAY_AGENT_INFO, AGENT_INFO]];
    const offers = await relayed(packet(mac, MessageType.DISCOVER, {}, opts));
    results['DISCOVER relayed, 82 + 61'] = observe(offers);
    const ip = offers[0]?.packet.yiaddr ?? spec.unknownIp;
    const request: [number, Buffer][] = [
      [Option.REQUESTED_IP, encodeValue.ip(ip)],
      [Option.SERVER_ID, encodeValue.ip(spec.server)],
      ...opts,
    ];
    results['REQUEST relayed, 82 + 61'] = observe(await relayed(packet(mac, MessageType.REQUEST, {}, request)));
  }
  await withLease('RENEWING (unicast, ciaddr)', (mac, ip) => renew(mac, ip, spec.server));
  await withLease('REBINDING (broadcast, ciaddr)', (mac, ip) => renew(mac, ip, '255.255.255.255'));
  await withLease('INIT-REBOOT, known address', (mac, ip) =>
    direct(packet(mac, MessageType.REQUEST, {}, [[Option.REQUESTED_IP, encodeValue.ip(ip)]])),
  );
  results['INIT-REBOOT, unknown client'] = observe(
    await direct(packet(newMac(), MessageType.REQUEST, {}, [[Option.REQUESTED_IP, encodeValue.ip(spec.unknownIp)]])),
  );
  results['INIT-REBOOT, wrong subnet'] = observe(
    await direct(packet(newMac(), MessageType.REQUEST, {}, [[Option.REQUESTED_IP, encodeValue.ip(spec.foreignIp)]])),
  );
  {
    const inform = packet(newMac(), MessageType.INFORM, { ciaddr: spec.client, flags: 0 }, [PRL]);
    results['INFORM (ciaddr)'] = observe(await io.exchange(client, inform, spec.server, inform.xid, wait));
  }
  await withLease('RELEASE', (mac, ip) =>
    asClientOf(ip, (socket) => {
      const release = packet(mac, MessageType.RELEASE, { ciaddr: ip, flags: 0 }, [
        [Option.SERVER_ID, encodeValue.ip(spec.server)],
      ]);
      return io.exchange(socket, release, spec.server, release.xid, wait);
    }),
  );
  await withLease('DECLINE', (mac, ip) =>
    direct(
      packet(mac, MessageType.DECLINE, { flags: 0 }, [
        [Option.REQUESTED_IP, encodeValue.ip(ip)],
        [Option.SERVER_ID, encodeValue.ip(spec.server)],
      ]),
    ),
  );
  for (const size of [576, 1500]) {
    const mac = newMac();
    const bigPrl: [number, Buffer] = [
      Option.PARAMETER_REQUEST_LIST,
      Buffer.from(Array.from({ length: 254 }, (_, i) => i + 1)),
    ];
    results[`DISCOVER, option 57 = ${size}`] = observe(
      await direct(packet(mac, MessageType.DISCOVER, {}, [[Option.MAX_MESSAGE_SIZE, encodeValue.u16(size)], bigPrl])),
    );
  }
  {
    // RFC 2131 4.1 / 2132 9.3: option 52 = 1 moves options into 'file': here the client id and the end.
    const mac = newMac();
    const p = packet(mac, MessageType.DISCOVER, {}, [[Option.OVERLOAD, encodeValue.u8(1)]]);
    const id = clientId(mac);
    p.file = Buffer.concat([Buffer.from([Option.CLIENT_ID, id.length]), id, Buffer.from([255])]).toString('latin1');
    results['DISCOVER, 61 overloaded into file (52)'] = observe(await direct(p));
  }
  io.close();
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`dhcp-differential-driver failed: ${String(err instanceof Error ? err.stack : err)}\n`);
  process.exit(1);
});
