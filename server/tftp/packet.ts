/**
 * TFTP packet codec (RFC 1350, options per RFC 2347). Pure: no sockets, no clock.
 * `parsePacket` never throws: garbage from the network becomes a typed error.
 */

export const Opcode = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** Error codes of RFC 1350 §5 and RFC 2347 (8). */
export const ErrorCode = {
  NotDefined: 0,
  FileNotFound: 1,
  AccessViolation: 2,
  DiskFull: 3,
  IllegalOperation: 4,
  UnknownTransferId: 5,
  FileExists: 6,
  NoSuchUser: 7,
  OptionRefused: 8,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export type TransferMode = 'octet' | 'netascii' | 'mail';

/** Option names are case-insensitive (RFC 2347): keys are lower case. */
export type Options = ReadonlyMap<string, string>;

export interface RequestPacket {
  type: 'RRQ' | 'WRQ';
  filename: string;
  mode: TransferMode;
  options: Options;
}
export interface DataPacket {
  type: 'DATA';
  block: number;
  data: Buffer;
}
export interface AckPacket {
  type: 'ACK';
  block: number;
}
export interface ErrorPacket {
  type: 'ERROR';
  code: number;
  message: string;
}
export interface OackPacket {
  type: 'OACK';
  options: Options;
}
export type Packet = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

export type ParseResult = { ok: true; packet: Packet } | { ok: false; error: string };

const MODES: readonly TransferMode[] = ['octet', 'netascii', 'mail'];

function fail(error: string): ParseResult {
  return { ok: false, error };
}

/**
 * Splits NUL-terminated strings. Bytes are decoded as latin1 so that every byte
 * maps to one character and nothing is lost or replaced.
 */
function splitStrings(body: Buffer): string[] | undefined {
  if (body.length === 0 || body[body.length - 1] !== 0) return undefined;
  return body.toString('latin1', 0, body.length - 1).split('\0');
}

function parseOptionPairs(fields: string[]): Map<string, string> | string {
  if (fields.length % 2 !== 0) return 'option without a value';
  const options = new Map<string, string>();
  for (let i = 0; i < fields.length; i += 2) {
    const name = (fields[i] ?? '').toLowerCase();
    if (name === '') return 'empty option name';
    // RFC 2347 does not allow repeats; keep the first, as most servers do.
    if (!options.has(name)) options.set(name, fields[i + 1] ?? '');
  }
  return options;
}

function parseRequest(type: 'RRQ' | 'WRQ', body: Buffer): ParseResult {
  const fields = splitStrings(body);
  if (!fields || fields.length < 2) return fail(`${type} without NUL-terminated filename and mode`);
  const [filename = '', modeField = '', ...rest] = fields;
  if (filename === '') return fail(`${type} with an empty filename`);
  const mode = MODES.find((m) => m === modeField.toLowerCase());
  if (!mode) return fail(`${type} with unknown mode "${modeField}"`);
  // Some clients pad the request with extra NULs after the last option.
  while (rest.length > 0 && rest[rest.length - 1] === '' && rest.length % 2 === 1) rest.pop();
  const options = parseOptionPairs(rest);
  if (typeof options === 'string') return fail(`${type} ${options}`);
  return { ok: true, packet: { type, filename, mode, options } };
}

function parseOack(body: Buffer): ParseResult {
  const fields = body.length === 0 ? [] : splitStrings(body);
  if (!fields) return fail('OACK without NUL-terminated options');
  const options = parseOptionPairs(fields);
  if (typeof options === 'string') return fail(`OACK ${options}`);
  return { ok: true, packet: { type: 'OACK', options } };
}

function parseError(body: Buffer): ParseResult {
  if (body.length < 2) return fail('ERROR shorter than 4 bytes');
  const code = body.readUInt16BE(0);
  // Be lenient on a missing terminator: the message is informational.
  const end = body.indexOf(0, 2);
  const message = body.toString('latin1', 2, end === -1 ? body.length : end);
  return { ok: true, packet: { type: 'ERROR', code, message } };
}

export function parsePacket(message: Buffer): ParseResult {
  if (message.length < 2) return fail('packet shorter than 2 bytes');
  const opcode = message.readUInt16BE(0);
  // An ACK is most of what a server receives: read it without making a view of the body.
  if (opcode === Opcode.ACK) {
    if (message.length < 4) return fail('ACK shorter than 4 bytes');
    return { ok: true, packet: { type: 'ACK', block: message.readUInt16BE(2) } };
  }
  const body = message.subarray(2);
  switch (opcode) {
    case Opcode.RRQ:
      return parseRequest('RRQ', body);
    case Opcode.WRQ:
      return parseRequest('WRQ', body);
    case Opcode.DATA:
      if (body.length < 2) return fail('DATA shorter than 4 bytes');
      return { ok: true, packet: { type: 'DATA', block: body.readUInt16BE(0), data: body.subarray(2) } };
    case Opcode.ERROR:
      return parseError(body);
    case Opcode.OACK:
      return parseOack(body);
    default:
      return fail(`unknown opcode ${opcode}`);
  }
}

function header(opcode: number, value: number): Buffer {
  const buf = Buffer.allocUnsafe(4);
  buf.writeUInt16BE(opcode, 0);
  buf.writeUInt16BE(value & 0xffff, 2);
  return buf;
}

function strings(values: string[]): Buffer {
  return Buffer.from(values.map((v) => `${v}\0`).join(''), 'latin1');
}

function optionStrings(options: Options): string[] {
  return [...options].flat();
}

/** Writes a 4-byte DATA header at `offset`, so that packets can be built in place. */
export function writeDataHeader(target: Buffer, offset: number, block: number): void {
  target.writeUInt16BE(Opcode.DATA, offset);
  target.writeUInt16BE(block & 0xffff, offset + 2);
}

export function encodePacket(packet: Packet): Buffer {
  switch (packet.type) {
    case 'RRQ':
    case 'WRQ': {
      const opcode = Buffer.alloc(2);
      opcode.writeUInt16BE(Opcode[packet.type]);
      return Buffer.concat([opcode, strings([packet.filename, packet.mode, ...optionStrings(packet.options)])]);
    }
    case 'DATA':
      return Buffer.concat([header(Opcode.DATA, packet.block), packet.data]);
    case 'ACK':
      return header(Opcode.ACK, packet.block);
    case 'ERROR':
      return Buffer.concat([header(Opcode.ERROR, packet.code), strings([packet.message])]);
    case 'OACK': {
      const opcode = Buffer.alloc(2);
      opcode.writeUInt16BE(Opcode.OACK);
      return Buffer.concat([opcode, strings(optionStrings(packet.options))]);
    }
  }
}

export function encodeError(code: ErrorCode, message: string): Buffer {
  return encodePacket({ type: 'ERROR', code, message });
}
