/**
 * Property-based fuzzing (fast-check) of everything that reads untrusted
 * bytes or JSON: the DHCP codec, the TFTP packet codec and option
 * negotiation, and the HTTP body validators. Each parser gets FUZZ_RUNS cases
 * (100,000 in `make test`, 1,000,000 in `make soak`), half fully random, half
 * mutations of packets captured from real clients.
 *
 * The property is the same for every parser: it never throws; it returns
 * either a typed error ({ok: false, error} for the codecs, ValidationError for
 * the bodies) or a value that encodes and parses back to an equal one.
 * A failure prints fast-check's seed and the shrunk input, to replay it.
 */
import fc from 'fast-check';
import { decideBoot, DEFAULT_BOOT_FILES } from '../../server/dhcp/boot-decision.js';
import { encodeDhcp, MessageType, parseDhcp, readClientRequest, type DhcpPacket } from '../../server/dhcp/codec.js';
import { buildReply } from '../../server/dhcp/replies.js';
import { ValidationError } from '../../server/kernel/errors.js';
import { parseBody } from '../../server/http/validation.js';
import { nodeCreateBody, nodeUpdateBody, phaseBody, registerBody } from '../../server/nodes/validation.js';
import { reprovisionBody } from '../../server/reprovision/routes.js';
import { MAX_BLKSIZE, MIN_BLKSIZE, negotiate } from '../../server/tftp/negotiate.js';
import { encodePacket, parsePacket, type Packet } from '../../server/tftp/packet.js';
import { requestSegments } from '../../server/tftp/paths.js';
import { dhcpStructured, FUZZ_RUNS, fixtures, packetInputs } from './mutations.js';

const dhcpSeeds = fixtures('dhcp').map((f) => f.bytes);
const tftpSeeds = [
  ...fixtures('tftp').map((f) => f.bytes),
  // Packets only a server sends, built by the encoder, so DATA, ERROR and OACK get mutated too.
  encodePacket({ type: 'DATA', block: 1, data: Buffer.alloc(512, 0x5a) }),
  encodePacket({ type: 'ERROR', code: 1, message: 'file not found' }),
  encodePacket({
    type: 'OACK',
    options: new Map([
      ['blksize', '1468'],
      ['tsize', '3000'],
    ]),
  }),
];

/** Reports the input that broke a property in a readable form. */
function fail(what: string, input: Buffer, detail: unknown): never {
  throw new Error(`${what} for ${input.toString('hex')}: ${String(detail)}`);
}

/** A stable text form for comparing packets (Maps and Buffers spelled out). */
function dhcpShape(packet: DhcpPacket): string {
  return JSON.stringify({
    ...packet,
    chaddr: packet.chaddr.toString('hex'),
    options: [...packet.options].map(([code, value]) => [code, value.toString('hex')]),
  });
}

function tftpShape(packet: Packet): string {
  return JSON.stringify(packet, (_key, value: unknown) =>
    value instanceof Map ? [...value] : Buffer.isBuffer(value) ? value.toString('hex') : value,
  );
}

const BOOT_SETTINGS = { httpBaseUrl: 'http://10.0.0.1:8080', tftpServerIp: '10.0.0.1', bootFiles: DEFAULT_BOOT_FILES };

interface Codec<P> {
  name: string;
  parse(input: Buffer): { ok: true; packet: P } | { ok: false; error: string };
  encode(packet: P): Buffer;
  shape(packet: P): string;
}

/** The shared property: a typed error, or a packet that encodes and parses back to an equal one (returned for further checks). */
function roundTrip<P>(codec: Codec<P>, input: Buffer): P | undefined {
  const parsed = codec.parse(input);
  if (!parsed.ok) {
    if (typeof parsed.error !== 'string' || parsed.error === '')
      fail(`untyped ${codec.name} error`, input, parsed.error);
    return undefined;
  }
  const again = codec.parse(codec.encode(parsed.packet));
  if (!again.ok) fail(`re-encoded ${codec.name} packet does not parse`, input, again.error);
  const [before, after] = [codec.shape(parsed.packet), codec.shape(again.packet)];
  if (before !== after) fail(`${codec.name} round trip changed the packet`, input, `${before}\n  !=\n${after}`);
  return parsed.packet;
}

const dhcpCodec: Codec<DhcpPacket> = { name: 'DHCP', parse: parseDhcp, encode: encodeDhcp, shape: dhcpShape };
const tftpCodec: Codec<Packet> = { name: 'TFTP', parse: parsePacket, encode: encodePacket, shape: tftpShape };

/** What the DHCP server does with a datagram, minus the socket and the lease book. */
function dhcpProperty(input: Buffer): void {
  const packet = roundTrip(dhcpCodec, input);
  if (!packet) return;
  const client = readClientRequest(packet);
  const boot = decideBoot(client, BOOT_SETTINGS);
  const reply = buildReply(packet, client, {
    messageType: MessageType.OFFER,
    serverId: '10.0.0.1',
    yiaddr: '10.0.0.100',
    leaseSeconds: 600,
    boot,
  });
  if (!parseDhcp(encodeDhcp(reply)).ok) fail('reply to a fuzzed request does not parse', input, 'reply');
}

function tftpProperty(input: Buffer): void {
  const packet = roundTrip(tftpCodec, input);
  if (packet?.type !== 'RRQ') return;
  const segments = requestSegments(packet.filename);
  if (typeof segments !== 'string' && segments.some((s) => s === '..' || s.includes('/') || s.includes('\\')))
    fail('path escaped confinement', input, segments);
  const negotiated = negotiate(packet.options, { maxBlksize: 1468, maxWindowsize: 64 }, 1000);
  const { blksize, windowsize } = negotiated;
  if (blksize < MIN_BLKSIZE || blksize > MAX_BLKSIZE || windowsize < 1 || windowsize > 64)
    fail('negotiated out of bounds', input, JSON.stringify({ blksize, windowsize }));
}

/** Header prefixes, so that random tails reach the option walkers and not only the first length check. */
const dhcpHeaders = dhcpSeeds.map((seed) => seed.subarray(0, 240));
const tftpOpcodes = [1, 2, 3, 4, 5, 6].map((op) => Buffer.from([0, op]));

describe('fuzzing the packet parsers (fast-check)', function () {
  this.timeout(600_000);

  it(`DHCP codec: ${FUZZ_RUNS.toLocaleString('en')} random and mutated packets parse to a typed error or a packet that round-trips`, () => {
    fc.assert(fc.property(fc.oneof(packetInputs(dhcpSeeds, 1500, dhcpHeaders), dhcpStructured()), dhcpProperty), {
      numRuns: FUZZ_RUNS,
    });
  });

  it(`TFTP codec and option negotiation: ${FUZZ_RUNS.toLocaleString('en')} random and mutated packets`, () => {
    fc.assert(fc.property(packetInputs(tftpSeeds, 600, tftpOpcodes), tftpProperty), { numRuns: FUZZ_RUNS });
  });
});

// ---------------------------------------------------------------- HTTP bodies

/** Values a hostile or broken client might put in any field. */
const hostileString = fc.constantFrom(
  '',
  ' ',
  'pve1\nchain http://evil',
  '${net0/mac}',
  '"quoted"',
  "a';reboot",
  'a;b',
  '\u0000',
  'x'.repeat(3000),
  '52:54:00:12:34:56',
  'node-1',
  '10.0.0.7',
  'installation',
  'completed',
  '42',
  '-1',
  '1e3',
);
const deepArray = (depth: number): unknown => Array.from({ length: depth }).reduce<unknown>((inner) => [inner], []);
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.string({ maxLength: 80 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(deepArray(10_000)),
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(hostileString, fc.jsonValue({ maxDepth: 2 })), { maxKeys: 4 }),
);
const FIELDS = [
  'mac',
  'hostname',
  'ip',
  'type',
  'cluster',
  'status',
  'uuid',
  'token',
  'node_id',
  'phase',
  'message',
  'progress',
  'profile',
  'labels',
  'netboot_enabled',
  'all',
  'nodes',
  'timeout_min',
];
/** Objects with known and unknown field names, or any JSON value at all. */
const bodyInput: fc.Arbitrary<unknown> = fc.oneof(
  fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 12 })), fieldValue, { maxKeys: 8 }),
  fc.jsonValue({ maxDepth: 4 }),
  fc.anything({ maxDepth: 3 }),
);

const SCHEMAS = { registerBody, phaseBody, nodeCreateBody, nodeUpdateBody, reprovisionBody };

describe('fuzzing the HTTP body validators (fast-check)', function () {
  this.timeout(600_000);
  // One parser (parseBody) behind five schemas: FUZZ_RUNS bodies in all, each against a schema drawn at random.
  it(`${FUZZ_RUNS.toLocaleString('en')} random and hostile bodies against ${Object.keys(SCHEMAS).join(', ')}: a ValidationError or a value that validates to itself`, () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(SCHEMAS)), bodyInput, (schema, body) => {
        let value: unknown;
        try {
          value = parseBody(schema, body);
        } catch (err) {
          if (err instanceof ValidationError) return;
          throw err;
        }
        const again: unknown = parseBody(schema, value);
        if (JSON.stringify(again) !== JSON.stringify(value))
          throw new Error(`not a fixed point: ${JSON.stringify(value)} -> ${JSON.stringify(again)}`);
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});
