/**
 * Asks the segment who answers DHCP: one DISCOVER from the boot interface,
 * then every OFFER heard for a while (the edge of the "other dhcp servers"
 * check). The DISCOVER looks like a BIOS PXE ROM's, so both address servers
 * and proxyDHCP/PXE servers answer; nothing is ever requested, so no lease is
 * taken (an offered address is only held for a minute or so).
 *
 * Two sockets, as in dhcp/server.ts: the DISCOVER is sent from one bound to
 * the interface's address (a limited broadcast leaves through the interface
 * owning its source address), offers broadcast to 255.255.255.255:68 are
 * heard on one bound to 0.0.0.0:68. Both share the port (SO_REUSEADDR) with a
 * DHCP client or homeport on this host. Port 68 needs root or CAP_NET_BIND_SERVICE.
 */
import crypto from 'node:crypto';
import type dgram from 'node:dgram';
import {
  BOOTREPLY,
  BROADCAST_FLAG,
  decodeValue,
  encodeDhcp,
  encodeValue,
  macToChaddr,
  MessageType,
  Option,
  parseDhcp,
  readClientRequest,
} from '../dhcp/codec.js';
import { Arch } from '../dhcp/boot-decision.js';
import { bindSocket } from '../dhcp/server.js';
import type { DhcpOffer, DhcpProbe } from './checks.js';

export interface OfferProbeOptions {
  serverIp: string;
  /** chaddr of the DISCOVER: the interface's own MAC. */
  mac: string;
  waitMs: number;
  /** 67 and 68 unless a test says otherwise. */
  serverPort?: number;
  clientPort?: number;
}

const PXE_BIOS_VENDOR_CLASS = 'PXEClient:Arch:00000:UNDI:002001';

export function discoverPacket(mac: string, xid: number): Buffer {
  const options = new Map<number, Buffer>([
    [Option.MESSAGE_TYPE, encodeValue.u8(MessageType.DISCOVER)],
    [
      Option.PARAMETER_REQUEST_LIST,
      Buffer.from([
        Option.SUBNET_MASK,
        Option.ROUTER,
        Option.DNS_SERVERS,
        Option.VENDOR_CLASS,
        Option.TFTP_SERVER_NAME,
        Option.BOOTFILE_NAME,
      ]),
    ],
    [Option.VENDOR_CLASS, encodeValue.text(PXE_BIOS_VENDOR_CLASS)],
    [Option.CLIENT_ARCH, encodeValue.u16List([Arch.BIOS])],
  ]);
  return encodeDhcp({
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs: 0,
    flags: BROADCAST_FLAG,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: macToChaddr(mac),
    sname: '',
    file: '',
    options,
  });
}

/** An OFFER answering our xid, or null for anything else heard on port 68. */
export function readOffer(msg: Buffer, fromAddress: string, xid: number): DhcpOffer | null {
  const parsed = parseDhcp(msg);
  if (!parsed.ok || parsed.packet.op !== BOOTREPLY || parsed.packet.xid !== xid) return null;
  const view = readClientRequest(parsed.packet);
  if (view.messageType !== MessageType.OFFER) return null;
  const bootOption = parsed.packet.options.get(Option.BOOTFILE_NAME);
  const bootFile = parsed.packet.file || (bootOption ? decodeValue.text(bootOption) : '');
  return { server: view.serverId ?? fromAddress, yiaddr: parsed.packet.yiaddr, bootFile: bootFile || null };
}

export async function probeOffers(options: OfferProbeOptions): Promise<DhcpProbe> {
  const clientPort = options.clientPort ?? 68;
  const xid = crypto.randomBytes(4).readUInt32BE(0);
  const sockets: dgram.Socket[] = [];
  try {
    const listener = await bindSocket('0.0.0.0', clientPort);
    sockets.push(listener);
    const sender = await bindSocket(options.serverIp, clientPort);
    sockets.push(sender);
    sender.setBroadcast(true);
    const offers: DhcpOffer[] = [];
    listener.on('message', (msg, from) => {
      const offer = readOffer(msg, from.address, xid);
      if (offer) offers.push(offer);
    });
    await new Promise<void>((resolve, reject) =>
      sender.send(discoverPacket(options.mac, xid), options.serverPort ?? 67, '255.255.255.255', (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, options.waitMs));
    return { state: 'listened', seconds: options.waitMs / 1000, offers };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES')
      return { state: 'error', message: `binding port ${clientPort} needs root or CAP_NET_BIND_SERVICE` };
    return { state: 'error', message: code ? `${code} (${(err as Error).message})` : (err as Error).message };
  } finally {
    for (const socket of sockets) socket.close();
  }
}
