/**
 * Minimal pcap reader (classic libpcap format, Ethernet link type): yields the
 * UDP datagrams of IPv4 frames. Enough to turn a tcpdump capture into fixtures.
 */
import fs from 'node:fs';

export interface UdpDatagram {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

const LINKTYPE_ETHERNET = 1;

export function readPcapUdp(file: string): UdpDatagram[] {
  const data = fs.readFileSync(file);
  const magic = data.readUInt32LE(0);
  const littleEndian = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const u32 = (offset: number) => (littleEndian ? data.readUInt32LE(offset) : data.readUInt32BE(offset));
  if (u32(20) !== LINKTYPE_ETHERNET) throw new Error(`${file}: not an Ethernet capture`);
  const datagrams: UdpDatagram[] = [];
  for (let offset = 24; offset + 16 <= data.length;) {
    const captured = u32(offset + 8);
    const frame = data.subarray(offset + 16, offset + 16 + captured);
    offset += 16 + captured;
    const datagram = udpOfFrame(frame);
    if (datagram) datagrams.push(datagram);
  }
  return datagrams;
}

function udpOfFrame(frame: Buffer): UdpDatagram | null {
  if (frame.length < 14 + 20 + 8 || frame.readUInt16BE(12) !== 0x0800) return null;
  const ip = frame.subarray(14);
  const headerLength = (ip[0]! & 0x0f) * 4;
  if (ip[9] !== 17) return null;
  const udp = ip.subarray(headerLength);
  const udpLength = udp.readUInt16BE(4);
  const address = (b: Buffer, at: number) => [...b.subarray(at, at + 4)].join('.');
  return {
    src: address(ip, 12),
    dst: address(ip, 16),
    srcPort: udp.readUInt16BE(0),
    dstPort: udp.readUInt16BE(2),
    payload: Buffer.from(udp.subarray(8, udpLength)),
  };
}
