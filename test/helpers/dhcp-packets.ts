/** DHCP client packets for tests of the pure core (no socket). */
import { encodeValue, macToChaddr, Option, type DhcpPacket } from '../../server/dhcp/codec.js';

export const CLIENT_MAC = '02:00:00:00:00:01';

/** A BOOTREQUEST from CLIENT_MAC with no address and no options; `fields` replace any of it. */
export function bootRequest(fields: Partial<DhcpPacket> = {}): DhcpPacket {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0x1234,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: macToChaddr(CLIENT_MAC),
    sname: '',
    file: '',
    options: new Map(),
    ...fields,
  };
}

/** A DHCP message of `type` (option 53) from CLIENT_MAC, with `options` after it. */
export function clientPacket(
  type: number,
  fields: Partial<DhcpPacket> = {},
  options: [number, Buffer][] = [],
): DhcpPacket {
  return bootRequest({ options: new Map([[Option.MESSAGE_TYPE, encodeValue.u8(type)], ...options]), ...fields });
}
