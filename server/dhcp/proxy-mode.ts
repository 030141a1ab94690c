/**
 * proxyDHCP (PXE spec 2.1), the decision (pure): answer only network-boot
 * clients, never with an address: an OFFER to a DISCOVER on port 67, an ACK
 * to a REQUEST or INFORM on 4011. A REQUEST on 67 belongs to the address
 * server and is left alone (an ACK without an address there would unconfigure
 * the client).
 */
import { isNetbootClient, type BootAnswer } from './boot-decision.js';
import { MESSAGE_TYPE_NAMES, MessageType, type ClientRequest, type DhcpPacket } from './codec.js';
import type { Answer } from './replies.js';

/** The port a request came in on: 67 (`dhcp`) or the PXE boot server port 4011 (`pxe`). */
export type Via = 'dhcp' | 'pxe';

export interface ProxySettings {
  serverIp: string;
  /** The boot file for a network-boot client, if any (boot-decision.ts). */
  bootFor: (client: ClientRequest) => BootAnswer | undefined;
}

export function proxyAnswer(packet: DhcpPacket, client: ClientRequest, via: Via, settings: ProxySettings): Answer {
  if (!isNetbootClient(client)) return { ignored: 'not a network-boot client' };
  const messageType = proxyReplyType(client.messageType, via);
  if (messageType === null)
    return { ignored: `proxy does not answer ${MESSAGE_TYPE_NAMES[client.messageType ?? 0]} on ${via}` };
  const boot = settings.bootFor(client);
  if (!boot) return { ignored: 'no boot file for this client' };
  return { messageType, serverId: settings.serverIp, ciaddr: packet.ciaddr, boot };
}

function proxyReplyType(messageType: number | undefined, via: Via): number | null {
  if (via === 'dhcp') return messageType === MessageType.DISCOVER ? MessageType.OFFER : null;
  return messageType === MessageType.REQUEST || messageType === MessageType.INFORM ? MessageType.ACK : null;
}
