/**
 * Sends one DHCP packet (or a list of raw ones) and prints every reply, for exchanges no packaged
 * client makes on demand (INFORM, a PXE request to port 4011, garbage).
 * Run inside a namespace:
 *   ip netns exec NS node --import tsx test/helpers/dhcp-probe.ts '<json ProbeSpec>'
 * Prints one JSON line: ProbeReply[].
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import {
  decodeValue,
  encodeDhcp,
  encodeValue,
  macToChaddr,
  Option,
  parseDhcp,
  readClientRequest,
} from '../../server/dhcp/codec.js';

export interface ProbeSpec {
  to: string;
  port: number;
  /** Local port to send from and listen on; 68 by default. */
  listenPort?: number;
  waitMs: number;
  /** Raw bytes (hex) to send instead of a packet, e.g. garbage. */
  rawHex?: string;
  /** A file of raw datagrams, one hex line each, sent in order in bursts of 20 (e.g. fuzzed packets; too many for argv). */
  rawHexFile?: string;
  packet?: {
    messageType: number;
    mac: string;
    ciaddr?: string;
    giaddr?: string;
    flags?: number;
    /** option code → hex value */
    options?: Record<string, string>;
  };
}

export interface ProbeReply {
  from: string;
  fromPort: number;
  messageType?: number;
  yiaddr: string;
  siaddr: string;
  ciaddr: string;
  file: string;
  vendorClass?: string;
  serverId?: string;
  bootfileOption?: string;
  options: Record<string, string>;
}

function buildPacket(spec: NonNullable<ProbeSpec['packet']>): Buffer {
  const options = new Map<number, Buffer>([[Option.MESSAGE_TYPE, encodeValue.u8(spec.messageType)]]);
  for (const [code, hex] of Object.entries(spec.options ?? {})) options.set(Number(code), Buffer.from(hex, 'hex'));
  return encodeDhcp({
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: Math.floor(Math.random() * 0xffffffff),
    secs: 0,
    flags: spec.flags ?? 0,
    ciaddr: spec.ciaddr ?? '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: spec.giaddr ?? '0.0.0.0',
    chaddr: macToChaddr(spec.mac),
    sname: '',
    file: '',
    options,
  });
}

function describeReply(msg: Buffer, from: dgram.RemoteInfo): ProbeReply | null {
  const parsed = parseDhcp(msg);
  if (!parsed.ok || parsed.packet.op !== 2) return null;
  const packet = parsed.packet;
  const view = readClientRequest(packet);
  const bootfile = packet.options.get(Option.BOOTFILE_NAME);
  return {
    from: from.address,
    fromPort: from.port,
    messageType: view.messageType,
    yiaddr: packet.yiaddr,
    siaddr: packet.siaddr,
    ciaddr: packet.ciaddr,
    file: packet.file,
    vendorClass: view.vendorClass,
    serverId: view.serverId,
    bootfileOption: bootfile ? decodeValue.text(bootfile) : undefined,
    options: Object.fromEntries([...packet.options].map(([code, value]) => [String(code), value.toString('hex')])),
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as ProbeSpec;
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const replies: ProbeReply[] = [];
  socket.on('message', (msg, from) => {
    const reply = describeReply(msg, from);
    if (reply) replies.push(reply);
  });
  await new Promise<void>((resolve) => socket.bind(spec.listenPort ?? 68, '0.0.0.0', resolve));
  socket.setBroadcast(true);
  const payloads = spec.rawHexFile
    ? fs.readFileSync(spec.rawHexFile, 'utf8').split('\n').filter(Boolean)
    : [spec.rawHex ?? buildPacket(spec.packet!).toString('hex')];
  for (const [i, hex] of payloads.entries()) {
    await new Promise<void>((resolve, reject) =>
      socket.send(Buffer.from(hex, 'hex'), spec.port, spec.to, (err) => (err ? reject(err) : resolve())),
    );
    // A pause between bursts, so the server's socket buffer is not what drops packets.
    if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await new Promise((resolve) => setTimeout(resolve, spec.waitMs));
  socket.close();
  process.stdout.write(`${JSON.stringify(replies)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`dhcp-probe failed: ${String(err)}\n`);
  process.exit(1);
});
