/**
 * Many DHCP clients at once behind one relay address, for tests with more
 * clients than namespaces are worth: each client (its own MAC) runs DORA
 * against every server at once, as a broadcast on a shared segment would
 * reach them all: DISCOVER to each, the first OFFER wins, REQUEST naming
 * that server to each, then ACK (done) or NAK (start over). Bounded: a few
 * clients in flight, a few attempts each, a timeout per answer.
 * Run inside a namespace holding giaddr (servers answer relays on port 67):
 *   ip netns exec NS node --import tsx test/helpers/dhcp-relay-clients.ts '<json RelayClientsSpec>'
 * Prints one JSON line: RelayClientsResult.
 */
import dgram from 'node:dgram';
import {
  BOOTREQUEST,
  encodeDhcp,
  encodeValue,
  macToChaddr,
  MessageType,
  Option,
  parseDhcp,
  readClientRequest,
  type DhcpPacket,
} from '../../server/dhcp/codec.js';

export interface RelayClientsSpec {
  servers: string[];
  giaddr: string;
  clients: number;
  /** First MAC; client i adds i to it. */
  firstMac: string;
  concurrency: number;
  attempts: number;
  answerTimeoutMs: number;
}

export interface RelayClientsResult {
  /** Every ACK any client received (one per client when all went well). */
  acks: { mac: string; ip: string; server: string }[];
  naks: number;
  /** Clients that got no ACK within their attempts. */
  failed: string[];
}

type Waiter = { accept: (packet: DhcpPacket, serverId: string | undefined) => boolean };

function macPlus(first: string, i: number): string {
  const hex = (parseInt(first.replace(/:/g, ''), 16) + i).toString(16).padStart(12, '0');
  return hex.match(/../g)!.join(':');
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as RelayClientsSpec;
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const waiters = new Map<number, Waiter>();
  socket.on('message', (msg) => {
    const parsed = parseDhcp(msg);
    if (!parsed.ok || parsed.packet.op !== 2) return;
    waiters.get(parsed.packet.xid)?.accept(parsed.packet, readClientRequest(parsed.packet).serverId);
  });
  await new Promise<void>((resolve) => socket.bind(67, spec.giaddr, resolve));
  const result: RelayClientsResult = { acks: [], naks: 0, failed: [] };

  const send = (packet: DhcpPacket) =>
    Promise.all(
      spec.servers.map(
        (server) =>
          new Promise<void>((resolve, reject) =>
            socket.send(encodeDhcp(packet), 67, server, (err) => (err ? reject(err) : resolve())),
          ),
      ),
    );

  /** Sends, then resolves with the first answer `pick` takes, or null after the timeout. */
  const exchange = <T>(
    packet: DhcpPacket,
    pick: (reply: DhcpPacket, serverId: string | undefined) => T | null,
  ): Promise<T | null> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(null), spec.answerTimeoutMs);
      const done = (value: T | null) => {
        clearTimeout(timer);
        waiters.delete(packet.xid);
        resolve(value);
      };
      waiters.set(packet.xid, {
        accept: (reply, serverId) => {
          const value = pick(reply, serverId);
          if (value !== null) done(value);
          return value !== null;
        },
      });
      send(packet).catch(reject);
    });

  const request = (mac: string, xid: number, type: number, options: [number, Buffer][] = []): DhcpPacket => ({
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 1,
    xid,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: spec.giaddr,
    chaddr: macToChaddr(mac),
    sname: '',
    file: '',
    options: new Map([[Option.MESSAGE_TYPE, encodeValue.u8(type)], ...options]),
  });
  const typeOf = (reply: DhcpPacket) => reply.options.get(Option.MESSAGE_TYPE)?.[0];

  async function client(mac: string): Promise<void> {
    for (let attempt = 0; attempt < spec.attempts; attempt++) {
      const xid = Math.floor(Math.random() * 0xffffffff);
      const offer = await exchange(request(mac, xid, MessageType.DISCOVER), (reply, serverId) =>
        typeOf(reply) === MessageType.OFFER && serverId ? { ip: reply.yiaddr, serverId } : null,
      );
      if (!offer) continue;
      const answer = await exchange(
        request(mac, xid, MessageType.REQUEST, [
          [Option.REQUESTED_IP, encodeValue.ip(offer.ip)],
          [Option.SERVER_ID, encodeValue.ip(offer.serverId)],
        ]),
        (reply, serverId) =>
          serverId === offer.serverId && (typeOf(reply) === MessageType.ACK || typeOf(reply) === MessageType.NAK)
            ? { ack: typeOf(reply) === MessageType.ACK, ip: reply.yiaddr }
            : null,
      );
      if (answer?.ack) return void result.acks.push({ mac, ip: answer.ip, server: offer.serverId });
      if (answer) result.naks++;
    }
    result.failed.push(mac);
  }

  let next = 0;
  await Promise.all(
    Array.from({ length: spec.concurrency }, async () => {
      while (next < spec.clients) await client(macPlus(spec.firstMac, next++));
    }),
  );
  socket.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`dhcp-relay-clients failed: ${String(err)}\n`);
  process.exit(1);
});
