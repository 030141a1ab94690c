/**
 * DHCPv4 wire codec (RFC 2131 header, RFC 2132 options, RFC 3396 long options).
 *
 * Pure: Buffer in, Buffer out. Options are kept as an ordered Map of code → raw
 * bytes, so every option, known or not, survives a parse/encode round trip; the
 * typed readers and writers below interpret the few a PXE exchange needs.
 * Nothing here throws on bad input: parse returns { ok: false, error }.
 */

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const MAGIC_COOKIE = 0x63825363;
const HEADER_LENGTH = 236;
const OPTIONS_OFFSET = HEADER_LENGTH + 4;
/** RFC 1542: some relays and old clients drop BOOTP messages shorter than 300 bytes. */
const MIN_PACKET_LENGTH = 300;
const SNAME_OFFSET = 44;
const SNAME_LENGTH = 64;
const FILE_OFFSET = 108;
const FILE_LENGTH = 128;
const PAD = 0;
const END = 255;

export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;

export const MESSAGE_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(MessageType).map(([name, code]) => [code, name]),
);

export const Option = {
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS_SERVERS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER_NAME: 66,
  BOOTFILE_NAME: 67,
  USER_CLASS: 77,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  RELAY_AGENT_INFO: 82,
  CLIENT_UUID: 97,
  IPXE: 175,
} as const;

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** All 16 bytes of the chaddr field; hlen says how many are the address. */
  chaddr: Buffer;
  sname: string;
  file: string;
  /** Insertion-ordered; values are raw option bytes (split options already joined). */
  options: Map<number, Buffer>;
}

export type ParseResult = { ok: true; packet: DhcpPacket } | { ok: false; error: string };

export const BROADCAST_FLAG = 0x8000;

// ---------------------------------------------------------------- parse

export function parseDhcp(buf: Buffer): ParseResult {
  if (buf.length < OPTIONS_OFFSET) return fail(`packet too short: ${buf.length} bytes`);
  if (buf.readUInt32BE(HEADER_LENGTH) !== MAGIC_COOKIE) return fail('missing DHCP magic cookie');
  const hlen = buf.readUInt8(2);
  if (hlen > 16) return fail(`hlen ${hlen} exceeds the 16-byte chaddr field`);

  const options = new Map<number, Buffer>();
  const main = readOptionArea(buf.subarray(OPTIONS_OFFSET), options, 'options');
  if (main) return fail(main);

  // RFC 2131 4.1: with option 52, options continue in 'file', then in 'sname'.
  const overload = options.get(Option.OVERLOAD)?.[0] ?? 0;
  if (overload & 1) {
    const error = readOptionArea(buf.subarray(FILE_OFFSET, FILE_OFFSET + FILE_LENGTH), options, 'file');
    if (error) return fail(error);
  }
  if (overload & 2) {
    const error = readOptionArea(buf.subarray(SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH), options, 'sname');
    if (error) return fail(error);
  }

  return {
    ok: true,
    packet: {
      op: buf.readUInt8(0),
      htype: buf.readUInt8(1),
      hlen,
      hops: buf.readUInt8(3),
      xid: buf.readUInt32BE(4),
      secs: buf.readUInt16BE(8),
      flags: buf.readUInt16BE(10),
      ciaddr: readIp(buf, 12),
      yiaddr: readIp(buf, 16),
      siaddr: readIp(buf, 20),
      giaddr: readIp(buf, 24),
      chaddr: Buffer.from(buf.subarray(28, 44)),
      sname: overload & 2 ? '' : readCString(buf, SNAME_OFFSET, SNAME_LENGTH),
      file: overload & 1 ? '' : readCString(buf, FILE_OFFSET, FILE_LENGTH),
      options,
    },
  };
}

function fail(error: string): ParseResult {
  return { ok: false, error };
}

/**
 * Walks one option area. Pad (0) is a single byte with no length; end (255)
 * stops the area. An area that runs out without an end is accepted (several
 * firmwares omit it in sname/file), but an option cut short is an error.
 * Repeated codes are concatenated (RFC 3396).
 */
function readOptionArea(area: Buffer, into: Map<number, Buffer>, where: string): string | null {
  let i = 0;
  while (i < area.length) {
    const code = area[i]!;
    if (code === PAD) {
      i += 1;
      continue;
    }
    if (code === END) return null;
    const length = area[i + 1];
    if (length === undefined || i + 2 + length > area.length) {
      return `option ${code} truncated in ${where} at offset ${i}`;
    }
    const value = area.subarray(i + 2, i + 2 + length);
    const previous = into.get(code);
    into.set(code, previous ? Buffer.concat([previous, value]) : Buffer.from(value));
    i += 2 + length;
  }
  return null;
}

function readIp(buf: Buffer, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

/**
 * sname and file are NUL-terminated (RFC 2131), so at most length - 1
 * characters are text; a sender that fills the whole field loses its last
 * byte, which keeps parse and encode inverse to each other (found by fuzzing).
 */
function readCString(buf: Buffer, offset: number, length: number): string {
  const field = buf.subarray(offset, offset + length - 1);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('latin1');
}

// ---------------------------------------------------------------- encode

/**
 * Encodes a packet. Options are written in Map order; values over 255 bytes
 * are split into consecutive instances (RFC 3396). The result is padded to
 * the 300-byte BOOTP minimum. Option 52 is not produced: we never overload.
 */
export function encodeDhcp(packet: DhcpPacket): Buffer {
  const optionBytes = encodeOptions(packet.options);
  const length = Math.max(MIN_PACKET_LENGTH, OPTIONS_OFFSET + optionBytes.length);
  const buf = Buffer.alloc(length); // zero fill doubles as pad after the end option
  buf.writeUInt8(packet.op, 0);
  buf.writeUInt8(packet.htype, 1);
  buf.writeUInt8(packet.hlen, 2);
  buf.writeUInt8(packet.hops, 3);
  buf.writeUInt32BE(packet.xid >>> 0, 4);
  buf.writeUInt16BE(packet.secs, 8);
  buf.writeUInt16BE(packet.flags, 10);
  writeIp(buf, 12, packet.ciaddr);
  writeIp(buf, 16, packet.yiaddr);
  writeIp(buf, 20, packet.siaddr);
  writeIp(buf, 24, packet.giaddr);
  packet.chaddr.copy(buf, 28, 0, 16);
  buf.write(packet.sname, SNAME_OFFSET, SNAME_LENGTH - 1, 'latin1');
  buf.write(packet.file, FILE_OFFSET, FILE_LENGTH - 1, 'latin1');
  buf.writeUInt32BE(MAGIC_COOKIE, HEADER_LENGTH);
  optionBytes.copy(buf, OPTIONS_OFFSET);
  return buf;
}

export function encodeOptions(options: Map<number, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [code, value] of options) {
    if (code === PAD || code === END) continue;
    parts.push(...encodeOneOption(code, value));
  }
  parts.push(Buffer.from([END]));
  return Buffer.concat(parts);
}

/** The length encodeDhcp(packet) would have, without building it (replies are sized on the hot path). */
export function encodedLength(packet: DhcpPacket): number {
  let optionBytes = 1; // end
  for (const [code, value] of packet.options) {
    if (code === PAD || code === END) continue;
    optionBytes += value.length + 2 * Math.max(1, Math.ceil(value.length / 255));
  }
  return Math.max(MIN_PACKET_LENGTH, OPTIONS_OFFSET + optionBytes);
}

function encodeOneOption(code: number, value: Buffer): Buffer[] {
  if (value.length === 0) return [Buffer.from([code, 0])];
  const parts: Buffer[] = [];
  for (let start = 0; start < value.length; start += 255) {
    const chunk = value.subarray(start, start + 255);
    parts.push(Buffer.from([code, chunk.length]), chunk);
  }
  return parts;
}

function writeIp(buf: Buffer, offset: number, ip: string): void {
  ipToBuffer(ip).copy(buf, offset);
}

// ---------------------------------------------------------------- addresses

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isIpv4(value: string): boolean {
  const m = IPV4.exec(value);
  return m !== null && m.slice(1).every((octet) => Number(octet) <= 255);
}

export function ipToBuffer(ip: string): Buffer {
  if (!isIpv4(ip)) throw new Error(`not an IPv4 address: ${ip}`);
  return Buffer.from(ip.split('.').map(Number));
}

export function ipToNumber(ip: string): number {
  return ipToBuffer(ip).readUInt32BE(0);
}

export function numberToIp(n: number): string {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(n >>> 0);
  return readIp(buf, 0);
}

/** Lowercase colon MAC of an Ethernet client, or null for other hardware types. */
export function clientMac(packet: DhcpPacket): string | null {
  if (packet.htype !== 1 || packet.hlen !== 6) return null;
  return [...packet.chaddr.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function macToChaddr(mac: string): Buffer {
  const chaddr = Buffer.alloc(16);
  Buffer.from(mac.replace(/:/g, ''), 'hex').copy(chaddr);
  return chaddr;
}

// ---------------------------------------------------------------- option values

/** Writers: typed value → raw option bytes. */
export const encodeValue = {
  u8: (n: number): Buffer => Buffer.from([n]),
  u16: (n: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(n);
    return b;
  },
  u32: (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  },
  u16List: (list: number[]): Buffer => Buffer.concat(list.map(encodeValue.u16)),
  ip: (ip: string): Buffer => ipToBuffer(ip),
  ips: (list: string[]): Buffer => Buffer.concat(list.map(ipToBuffer)),
  text: (s: string): Buffer => Buffer.from(s, 'utf8'),
  /** Encapsulated sub-options (43, 175): code, length, value; no end byte needed, we add one per RFC 2132 8.4 practice. */
  subOptions: (sub: Map<number, Buffer>): Buffer => encodeOptions(sub),
  /** Option 94: type, major, minor. */
  ndi: (ndi: ClientNdi): Buffer => Buffer.from([ndi.type, ndi.major, ndi.minor]),
  /** Option 97: type 0 then the 16 GUID bytes in wire order. */
  uuid: (uuid: string): Buffer => Buffer.concat([Buffer.from([0]), Buffer.from(uuid.replace(/-/g, ''), 'hex')]),
};

export interface ClientNdi {
  type: number;
  major: number;
  minor: number;
}

/** Readers: raw option bytes → typed value, or undefined when the length is wrong. */
export const decodeValue = {
  u8: (b: Buffer): number | undefined => (b.length === 1 ? b[0] : undefined),
  u16: (b: Buffer): number | undefined => (b.length === 2 ? b.readUInt16BE(0) : undefined),
  u32: (b: Buffer): number | undefined => (b.length === 4 ? b.readUInt32BE(0) : undefined),
  u16List: (b: Buffer): number[] | undefined =>
    b.length > 0 && b.length % 2 === 0
      ? Array.from({ length: b.length / 2 }, (_, i) => b.readUInt16BE(i * 2))
      : undefined,
  ip: (b: Buffer): string | undefined => (b.length === 4 ? readIp(b, 0) : undefined),
  ips: (b: Buffer): string[] | undefined =>
    b.length > 0 && b.length % 4 === 0 ? Array.from({ length: b.length / 4 }, (_, i) => readIp(b, i * 4)) : undefined,
  /** Text options may carry a trailing NUL (several firmwares send one). */
  text: (b: Buffer): string => b.toString('utf8').replace(/\0+$/, ''),
  subOptions: (b: Buffer): Map<number, Buffer> | undefined => {
    const sub = new Map<number, Buffer>();
    return readOptionArea(b, sub, 'sub-options') === null ? sub : undefined;
  },
  ndi: (b: Buffer): ClientNdi | undefined => (b.length === 3 ? { type: b[0]!, major: b[1]!, minor: b[2]! } : undefined),
  /** Option 97: type 0 + 16 bytes, shown as a UUID string in wire byte order. */
  uuid: (b: Buffer): string | undefined => {
    if (b.length !== 17 || b[0] !== 0) return undefined;
    const hex = b.subarray(1).toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  },
  /**
   * Option 77. RFC 3004 says a list of length-prefixed classes, but iPXE and
   * dhclient's `send user-class "x"` put the bare string; accept both.
   */
  userClasses: (b: Buffer): string[] => {
    const list: string[] = [];
    let i = 0;
    while (i < b.length) {
      const length = b[i]!;
      if (length === 0 || i + 1 + length > b.length) return [decodeValue.text(b)];
      list.push(b.subarray(i + 1, i + 1 + length).toString('utf8'));
      i += 1 + length;
    }
    return list;
  },
};

// ---------------------------------------------------------------- request view

/** What the server needs to know about a client request, read once. */
export interface ClientRequest {
  messageType: number | undefined;
  mac: string | null;
  clientId: Buffer | undefined;
  requestedIp: string | undefined;
  serverId: string | undefined;
  hostname: string | undefined;
  vendorClass: string | undefined;
  userClasses: string[];
  /** Option 93; several values are allowed, the first one is the native one. */
  arch: number | undefined;
  uuid: string | undefined;
  /** Option 175 present: iPXE announcing its features. */
  ipxeOptions: boolean;
  parameterRequestList: number[];
}

export function readClientRequest(packet: DhcpPacket): ClientRequest {
  const get = (code: number): Buffer | undefined => packet.options.get(code);
  const text = (code: number): string | undefined => {
    const value = get(code);
    return value ? decodeValue.text(value) : undefined;
  };
  const ip = (code: number): string | undefined => {
    const value = get(code);
    return value ? decodeValue.ip(value) : undefined;
  };
  const typeValue = get(Option.MESSAGE_TYPE);
  const archValue = get(Option.CLIENT_ARCH);
  const uuidValue = get(Option.CLIENT_UUID);
  const userClassValue = get(Option.USER_CLASS);
  return {
    messageType: typeValue ? decodeValue.u8(typeValue) : undefined,
    mac: clientMac(packet),
    clientId: get(Option.CLIENT_ID),
    requestedIp: ip(Option.REQUESTED_IP),
    serverId: ip(Option.SERVER_ID),
    hostname: text(Option.HOSTNAME),
    vendorClass: text(Option.VENDOR_CLASS),
    userClasses: userClassValue ? decodeValue.userClasses(userClassValue) : [],
    arch: archValue ? decodeValue.u16List(archValue)?.[0] : undefined,
    uuid: uuidValue ? decodeValue.uuid(uuidValue) : undefined,
    ipxeOptions: packet.options.has(Option.IPXE),
    parameterRequestList: [...(get(Option.PARAMETER_REQUEST_LIST) ?? [])],
  };
}
