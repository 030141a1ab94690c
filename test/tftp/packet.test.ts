import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { encodePacket, ErrorCode, parsePacket, type Packet } from '../../server/tftp/packet.js';

const raw = (...parts: (number[] | string)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('tftp packet codec', () => {
  describe('parses', () => {
    const cases: { name: string; bytes: Buffer; packet: Packet }[] = [
      {
        name: 'RRQ without options',
        bytes: raw([0, 1], 'pxelinux.0\0octet\0'),
        packet: { type: 'RRQ', filename: 'pxelinux.0', mode: 'octet', options: new Map() },
      },
      {
        name: 'RRQ with options, names and mode in any case',
        bytes: raw([0, 1], '/ipxe.efi\0OCTET\0BlkSize\x001468\0tsize\x000\0windowsize\x008\0'),
        packet: {
          type: 'RRQ',
          filename: '/ipxe.efi',
          mode: 'octet',
          options: new Map([
            ['blksize', '1468'],
            ['tsize', '0'],
            ['windowsize', '8'],
          ]),
        },
      },
      {
        name: 'RRQ padded with a trailing NUL',
        bytes: raw([0, 1], 'f\0netascii\0\0'),
        packet: { type: 'RRQ', filename: 'f', mode: 'netascii', options: new Map() },
      },
      {
        name: 'WRQ',
        bytes: raw([0, 2], 'up\0octet\0'),
        packet: { type: 'WRQ', filename: 'up', mode: 'octet', options: new Map() },
      },
      {
        name: 'DATA',
        bytes: raw([0, 3, 0xff, 0xff], 'abc'),
        packet: { type: 'DATA', block: 65535, data: Buffer.from('abc') },
      },
      { name: 'empty DATA', bytes: raw([0, 3, 0, 7]), packet: { type: 'DATA', block: 7, data: Buffer.alloc(0) } },
      { name: 'ACK', bytes: raw([0, 4, 1, 2]), packet: { type: 'ACK', block: 258 } },
      {
        name: 'ERROR',
        bytes: raw([0, 5, 0, 8], 'no\0'),
        packet: { type: 'ERROR', code: ErrorCode.OptionRefused, message: 'no' },
      },
      {
        name: 'ERROR without terminator',
        bytes: raw([0, 5, 0, 0], 'abort'),
        packet: { type: 'ERROR', code: 0, message: 'abort' },
      },
      {
        name: 'OACK',
        bytes: raw([0, 6], 'blksize\x001468\0'),
        packet: { type: 'OACK', options: new Map([['blksize', '1468']]) },
      },
    ];
    for (const { name, bytes, packet } of cases) {
      it(name, () => {
        expect(parsePacket(bytes)).to.deep.equal({ ok: true, packet });
      });
    }
  });

  describe('rejects without throwing', () => {
    const cases: { name: string; bytes: Buffer; error: RegExp }[] = [
      { name: 'an empty packet', bytes: raw([]), error: /shorter than 2/ },
      { name: 'one byte', bytes: raw([0]), error: /shorter than 2/ },
      { name: 'an unknown opcode', bytes: raw([0, 9], 'x'), error: /unknown opcode 9/ },
      { name: 'an RRQ without terminator', bytes: raw([0, 1], 'abc'), error: /NUL-terminated/ },
      { name: 'an RRQ without mode', bytes: raw([0, 1], 'abc\0'), error: /NUL-terminated/ },
      { name: 'an RRQ with an empty filename', bytes: raw([0, 1], '\0octet\0'), error: /empty filename/ },
      { name: 'an RRQ with an unknown mode', bytes: raw([0, 1], 'f\0binary\0'), error: /unknown mode/ },
      {
        name: 'an RRQ with an option lacking its value',
        bytes: raw([0, 1], 'f\0octet\0blksize\0'),
        error: /without a value/,
      },
      { name: 'a short ACK', bytes: raw([0, 4, 1]), error: /ACK shorter/ },
      { name: 'a short DATA', bytes: raw([0, 3]), error: /DATA shorter/ },
      { name: 'a short ERROR', bytes: raw([0, 5, 0]), error: /ERROR shorter/ },
    ];
    for (const { name, bytes, error } of cases) {
      it(name, () => {
        const result = parsePacket(bytes);
        expect(result.ok).to.equal(false);
        if (!result.ok) expect(result.error).to.match(error);
      });
    }

    it('random garbage (5,000 packets)', () => {
      for (let i = 0; i < 5000; i++) {
        const bytes = randomBytes(i % 64);
        if (i % 3 === 0 && bytes.length >= 2) bytes.writeUInt16BE(1 + (i % 6), 0); // valid opcodes, garbage bodies
        expect(() => parsePacket(bytes)).not.to.throw();
      }
    });
  });

  it('round-trips every packet type through encode and parse', () => {
    const packets: Packet[] = [
      {
        type: 'RRQ',
        filename: 'boot/vmlinuz',
        mode: 'octet',
        options: new Map([
          ['blksize', '1468'],
          ['tsize', '0'],
        ]),
      },
      { type: 'WRQ', filename: 'x', mode: 'netascii', options: new Map() },
      { type: 'DATA', block: 0, data: randomBytes(512) },
      { type: 'ACK', block: 65535 },
      { type: 'ERROR', code: ErrorCode.FileNotFound, message: 'file not found' },
      { type: 'OACK', options: new Map([['windowsize', '16']]) },
    ];
    for (const packet of packets) expect(parsePacket(encodePacket(packet))).to.deep.equal({ ok: true, packet });
  });

  it('writes block numbers past 65535 modulo 65536 (rollover to 0)', () => {
    expect(encodePacket({ type: 'ACK', block: 65536 })).to.deep.equal(raw([0, 4, 0, 0]));
  });
});
