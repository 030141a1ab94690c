/**
 * fast-check arbitraries for packet fuzzing: fully random datagrams, and
 * mutations of real-client fixtures (bit flips, byte writes, truncation,
 * extension, byte splices, and DHCP option lengths pushed past the packet).
 * Shared by the pure codec properties and the over-the-socket test, so both
 * throw the same inputs at the parsers.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');

/** Cases per property in `make test`; `make soak` raises it (HOMEPORT_FUZZ_RUNS=1000000). */
export const FUZZ_RUNS = Number(process.env.HOMEPORT_FUZZ_RUNS ?? 100_000);

/** Every fixture of a kind ('dhcp', 'tftp'), raw bytes as captured. */
export function fixtures(kind: 'dhcp' | 'tftp'): { name: string; bytes: Buffer }[] {
  const dir = path.join(FIXTURES, kind);
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.bin'))
    .sort()
    .map((name) => ({ name, bytes: fs.readFileSync(path.join(dir, name)) }));
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'write'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'extend'; bytes: Uint8Array }
  | { kind: 'splice'; at: number; length: number; bytes: Uint8Array }
  | { kind: 'overrun'; which: number; excess: number };

/** Offsets of the length byte of each option in a DHCP packet's main option area. */
function dhcpOptionLengthOffsets(packet: Buffer): number[] {
  const offsets: number[] = [];
  let i = 240;
  while (i + 1 < packet.length && packet[i] !== 255) {
    if (packet[i] === 0) {
      i += 1;
      continue;
    }
    offsets.push(i + 1);
    i += 2 + packet[i + 1]!;
  }
  return offsets;
}

function apply(input: Buffer, mutation: Mutation): Buffer {
  const buf = Buffer.from(input);
  const at = (n: number) => (buf.length === 0 ? 0 : n % buf.length);
  switch (mutation.kind) {
    case 'flip':
      if (buf.length > 0) buf[at(mutation.at)]! ^= 1 << mutation.bit;
      return buf;
    case 'write':
      if (buf.length > 0) buf[at(mutation.at)] = mutation.value;
      return buf;
    case 'truncate':
      return buf.subarray(0, at(mutation.at));
    case 'extend':
      return Buffer.concat([buf, mutation.bytes]);
    case 'splice': {
      const start = at(mutation.at);
      return Buffer.concat([
        buf.subarray(0, start),
        mutation.bytes,
        buf.subarray(Math.min(buf.length, start + mutation.length)),
      ]);
    }
    case 'overrun': {
      // An option whose length reaches past the end of the packet (or into the next option).
      const offsets = dhcpOptionLengthOffsets(buf);
      const offset = offsets[mutation.which % Math.max(1, offsets.length)];
      if (offset !== undefined) buf[offset] = Math.min(255, buf[offset]! + 1 + mutation.excess);
      return buf;
    }
  }
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({
    kind: fc.constant('write' as const),
    at: fc.nat(),
    value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xfe, 0xff),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({
    kind: fc.constant('splice' as const),
    at: fc.nat(),
    length: fc.nat({ max: 32 }),
    bytes: fc.uint8Array({ maxLength: 32 }),
  }),
  fc.record({ kind: fc.constant('overrun' as const), which: fc.nat(), excess: fc.nat({ max: 255 }) }),
);

/** A seed with one to five mutations applied in turn. */
export function mutated(seeds: Buffer[]): fc.Arbitrary<Buffer> {
  return fc
    .record({ seed: fc.constantFrom(...seeds), mutations: fc.array(mutation, { minLength: 1, maxLength: 5 }) })
    .map(({ seed, mutations }) => mutations.reduce(apply, seed));
}

/** Fully random datagrams up to maxLength bytes, sometimes behind a fixed prefix (e.g. a valid header) so parsing gets past its first check. */
export function randomDatagram(maxLength: number, prefixes: Buffer[] = []): fc.Arbitrary<Buffer> {
  const bytes = fc.uint8Array({ maxLength }).map((b) => Buffer.from(b));
  if (prefixes.length === 0) return bytes;
  return fc.oneof(
    bytes,
    fc.tuple(fc.constantFrom(...prefixes), bytes).map(([prefix, tail]) => Buffer.concat([prefix, tail])),
  );
}

/** Half random, half mutated fixtures: what each packet parser is fuzzed with. */
export function packetInputs(seeds: Buffer[], maxLength: number, prefixes: Buffer[] = []): fc.Arbitrary<Buffer> {
  return fc.oneof(randomDatagram(maxLength, prefixes), mutated(seeds));
}

/** `count` inputs drawn deterministically from an arbitrary (for sending over a socket). */
export function sampleInputs(arbitrary: fc.Arbitrary<Buffer>, count: number, seed = 11): Buffer[] {
  return fc.sample(arbitrary, { numRuns: count, seed });
}

const DHCP_COOKIE = Buffer.from([0x63, 0x82, 0x53, 0x63]);
/** Codes the server interprets (message type, overload, vendor and user class, arch, UUID, iPXE), or any other. */
const dhcpOptionCode = fc.oneof(
  fc.constantFrom(52, 53, 60, 61, 77, 93, 97, 175, 55, 50, 54, 12),
  fc.integer({ min: 0, max: 255 }),
);
const dhcpOption = fc
  .tuple(dhcpOptionCode, fc.uint8Array({ maxLength: 40 }), fc.option(fc.integer({ min: 0, max: 255 }), { freq: 8 }))
  // Usually the true length; sometimes a wrong one (longer or shorter than the value).
  .map(([code, value, length]) => Buffer.concat([Buffer.from([code, length ?? value.length]), value]));

/**
 * Structurally plausible DHCP packets: a random 236-byte header (hlen kept
 * small, so most get past the chaddr check), the cookie, then a random
 * sequence of options, sometimes with a wrong length, an end and trailing bytes.
 * This is what reaches sname/file, option overload and the typed option readers.
 */
export function dhcpStructured(): fc.Arbitrary<Buffer> {
  return fc
    .tuple(
      fc.uint8Array({ minLength: 236, maxLength: 236 }),
      fc.array(dhcpOption, { maxLength: 12 }),
      fc.boolean(),
      fc.uint8Array({ maxLength: 80 }),
    )
    .map(([header, options, end, trailer]) => {
      const head = Buffer.from(header);
      head[2] = head[2]! % 18; // hlen: 0-17, so 17 still tests the chaddr bound
      return Buffer.concat([head, DHCP_COOKIE, ...options, end ? Buffer.from([255]) : Buffer.alloc(0), trailer]);
    });
}
