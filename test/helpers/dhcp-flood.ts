/**
 * A DISCOVER flood from random MACs, as an attacker on the boot network would
 * send it: `count` packets at `perSecond`, broadcast to port 67, bounded in
 * count and in time (maxMs). Counts the OFFERs that come back.
 * Run inside a namespace (never the root one):
 *   ip netns exec NS node --import tsx test/helpers/dhcp-flood.ts '<json FloodSpec>'
 * Prints one JSON line: FloodResult.
 */
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import {
  BOOTREQUEST,
  BROADCAST_FLAG,
  encodeDhcp,
  encodeValue,
  MessageType,
  Option,
  parseDhcp,
} from '../../server/dhcp/codec.js';

export interface FloodSpec {
  count: number;
  perSecond: number;
  maxMs: number;
}

export interface FloodResult {
  sent: number;
  offers: number;
  /** Distinct addresses offered. */
  addresses: number;
  ms: number;
}

function discover(): Buffer {
  const chaddr = Buffer.alloc(16);
  crypto.randomBytes(6).copy(chaddr);
  chaddr[0] = (chaddr[0]! & 0xfe) | 0x02; // unicast, locally administered, like a spoofer's
  return encodeDhcp({
    op: BOOTREQUEST,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: crypto.randomInt(0xffffffff),
    secs: 0,
    flags: BROADCAST_FLAG,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: new Map([[Option.MESSAGE_TYPE, encodeValue.u8(MessageType.DISCOVER)]]),
  });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as FloodSpec;
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const offered = new Set<string>();
  let offers = 0;
  socket.on('message', (msg) => {
    const parsed = parseDhcp(msg);
    if (!parsed.ok || parsed.packet.options.get(Option.MESSAGE_TYPE)?.[0] !== MessageType.OFFER) return;
    offers++;
    offered.add(parsed.packet.yiaddr);
  });
  await new Promise<void>((resolve) => socket.bind(68, '0.0.0.0', resolve));
  socket.setBroadcast(true);
  const started = Date.now();
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((spec.perSecond * tickMs) / 1000));
  let sent = 0;
  while (sent < spec.count && Date.now() - started < spec.maxMs) {
    const due = Math.min(spec.count, Math.floor(((Date.now() - started) / 1000) * spec.perSecond) + perTick);
    for (; sent < due; sent++) socket.send(discover(), 67, '255.255.255.255');
    await new Promise((resolve) => setTimeout(resolve, tickMs));
  }
  await new Promise((resolve) => setTimeout(resolve, 1000)); // late offers
  socket.close();
  const result: FloodResult = { sent, offers, addresses: offered.size, ms: Date.now() - started };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`dhcp-flood failed: ${String(err)}\n`);
  process.exit(1);
});
