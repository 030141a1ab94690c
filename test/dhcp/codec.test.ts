import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import {
  decodeValue,
  encodeDhcp,
  encodedLength,
  encodeValue,
  MessageType,
  Option,
  parseDhcp,
  readClientRequest,
  type DhcpPacket,
} from '../../server/dhcp/codec.js';
import { bootRequest } from '../helpers/dhcp-packets.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/dhcp');
const fixture = (name: string): Buffer => fs.readFileSync(path.join(FIXTURES, `${name}.bin`));
const fixtureNames = fs
  .readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.bin'))
  .map((f) => f.replace(/\.bin$/, ''));

function parseOk(buf: Buffer): DhcpPacket {
  const result = parseDhcp(buf);
  if (!result.ok) throw new Error(result.error);
  return result.packet;
}

/** Offset just past the end option of the main option area (fixtures have no pad inside). */
function endOfOptions(buf: Buffer): number {
  let i = 240;
  while (buf[i] !== 255) i += buf[i] === 0 ? 1 : 2 + buf[i + 1]!;
  return i + 1;
}

describe('dhcp codec', () => {
  describe('packets captured from real clients', () => {
    // What each client sent, as captured by test/helpers/capture-dhcp-fixtures.ts.
    const table = [
      {
        name: 'dhclient-pxe-discover',
        type: 'DISCOVER',
        mac: '02:00:00:77:00:01',
        arch: 0,
        vendor: 'PXEClient:Arch:00000:UNDI:002001',
        ipxe: false,
        uuid: '12345678-9abc-def0-1122-334455667788',
        hostname: 'capture-host',
      },
      {
        name: 'dhclient-pxe-request',
        type: 'REQUEST',
        mac: '02:00:00:77:00:01',
        arch: 0,
        requestedIp: '10.77.250.126',
        serverId: '10.77.250.1',
      },
      {
        name: 'udhcpc-discover',
        type: 'DISCOVER',
        mac: '02:00:00:77:00:02',
        arch: 7,
        vendor: 'PXEClient:Arch:00007:UNDI:003016',
        userClasses: ['iPXE'],
        clientId: '01020000770002',
      },
      {
        name: 'udhcpc-request',
        type: 'REQUEST',
        mac: '02:00:00:77:00:02',
        requestedIp: '10.77.250.127',
        serverId: '10.77.250.1',
      },
      {
        name: 'qemu-ipxe-bios-discover',
        type: 'DISCOVER',
        mac: '52:54:00:77:00:03',
        arch: 0,
        vendor: 'PXEClient:Arch:00000:UNDI:002001',
        userClasses: ['iPXE'],
        ipxe: true,
        ndi: { type: 1, major: 2, minor: 1 },
      },
      {
        name: 'qemu-ipxe-bios-request',
        type: 'REQUEST',
        mac: '52:54:00:77:00:03',
        arch: 0,
        ipxe: true,
        requestedIp: '10.77.250.100',
      },
      {
        name: 'qemu-ovmf-uefi-discover',
        type: 'DISCOVER',
        mac: '52:54:00:77:00:04',
        arch: 7,
        vendor: 'PXEClient:Arch:00007:UNDI:003000',
        ipxe: false,
        broadcast: true,
        ndi: { type: 1, major: 3, minor: 0 },
      },
      {
        name: 'qemu-ovmf-uefi-request',
        type: 'REQUEST',
        mac: '52:54:00:77:00:04',
        arch: 7,
        requestedIp: '10.77.250.101',
        serverId: '10.77.250.1',
      },
    ];
    for (const row of table) {
      it(`reads ${row.name}`, () => {
        const packet = parseOk(fixture(row.name));
        const client = readClientRequest(packet);
        expect(packet.op).to.equal(1);
        expect(client.messageType).to.equal(MessageType[row.type as keyof typeof MessageType]);
        expect(client.mac).to.equal(row.mac);
        if (row.arch !== undefined) expect(client.arch).to.equal(row.arch);
        if (row.vendor) expect(client.vendorClass).to.equal(row.vendor);
        if (row.userClasses) expect(client.userClasses).to.deep.equal(row.userClasses);
        if (row.ipxe !== undefined) expect(client.ipxeOptions).to.equal(row.ipxe);
        if (row.uuid) expect(client.uuid).to.equal(row.uuid);
        if (row.hostname) expect(client.hostname).to.equal(row.hostname);
        if (row.clientId) expect(client.clientId?.toString('hex')).to.equal(row.clientId);
        if (row.requestedIp) expect(client.requestedIp).to.equal(row.requestedIp);
        if (row.serverId) expect(client.serverId).to.equal(row.serverId);
        if (row.broadcast) expect(packet.flags & 0x8000).to.equal(0x8000);
        if (row.ndi) expect(decodeValue.ndi(packet.options.get(Option.CLIENT_NDI)!)).to.deep.equal(row.ndi);
      });
    }

    it("reads iPXE's option 175 as encapsulated sub-options", () => {
      const packet = parseOk(fixture('qemu-ipxe-bios-discover'));
      const sub = decodeValue.subOptions(packet.options.get(Option.IPXE)!);
      expect(sub).to.be.instanceOf(Map);
      expect(sub!.get(0x13)?.[0]).to.equal(1); // sub-option 19: this iPXE speaks HTTP
      expect(sub!.get(0xeb)?.toString('hex')).to.equal('010000'); // version 1.0.0
    });

    it('reads a real server reply (dnsmasq) with boot file in option 67 and in the file field', () => {
      const withOption = parseOk(fixture('dnsmasq-to-dhclient-pxe-ack'));
      expect(decodeValue.text(withOption.options.get(Option.BOOTFILE_NAME)!)).to.equal('undionly.kpxe');
      expect(decodeValue.u32(withOption.options.get(Option.LEASE_TIME)!)).to.equal(3600);
      expect(decodeValue.ip(withOption.options.get(Option.SUBNET_MASK)!)).to.equal('255.255.255.0');
      expect(withOption.yiaddr).to.equal('10.77.250.126');
      const withField = parseOk(fixture('dnsmasq-to-udhcpc-offer'));
      expect(withField.file).to.equal('undionly.kpxe');
      expect(withField.siaddr).to.equal('10.77.250.1');
    });

    for (const name of fixtureNames) {
      it(`round-trips ${name} byte for byte`, () => {
        const original = fixture(name);
        const encoded = encodeDhcp(parseOk(original));
        const end = endOfOptions(original);
        expect(encoded.subarray(0, end).toString('hex')).to.equal(original.subarray(0, end).toString('hex'));
        expect(encoded.length).to.equal(Math.max(300, end));
        expect(encoded.subarray(end).every((b) => b === 0)).to.equal(true);
      });
    }
  });

  describe('option values', () => {
    // Each option a PXE exchange uses: typed value → bytes → typed value.
    const uuid = '12345678-9abc-def0-1122-334455667788';
    const cases: { code: number; encode: Buffer; decode: (b: Buffer) => unknown; value: unknown }[] = [
      { code: Option.MESSAGE_TYPE, encode: encodeValue.u8(5), decode: decodeValue.u8, value: 5 },
      { code: Option.SERVER_ID, encode: encodeValue.ip('10.77.1.1'), decode: decodeValue.ip, value: '10.77.1.1' },
      { code: Option.LEASE_TIME, encode: encodeValue.u32(86400), decode: decodeValue.u32, value: 86400 },
      { code: Option.RENEWAL_TIME, encode: encodeValue.u32(43200), decode: decodeValue.u32, value: 43200 },
      { code: Option.REBINDING_TIME, encode: encodeValue.u32(75600), decode: decodeValue.u32, value: 75600 },
      {
        code: Option.SUBNET_MASK,
        encode: encodeValue.ip('255.255.255.0'),
        decode: decodeValue.ip,
        value: '255.255.255.0',
      },
      {
        code: Option.ROUTER,
        encode: encodeValue.ips(['10.77.1.254']),
        decode: decodeValue.ips,
        value: ['10.77.1.254'],
      },
      {
        code: Option.DNS_SERVERS,
        encode: encodeValue.ips(['1.1.1.1', '9.9.9.9']),
        decode: decodeValue.ips,
        value: ['1.1.1.1', '9.9.9.9'],
      },
      { code: Option.HOSTNAME, encode: encodeValue.text('node-1'), decode: decodeValue.text, value: 'node-1' },
      {
        code: Option.DOMAIN_NAME,
        encode: encodeValue.text('lab.example'),
        decode: decodeValue.text,
        value: 'lab.example',
      },
      {
        code: Option.VENDOR_SPECIFIC,
        encode: encodeValue.subOptions(new Map([[6, Buffer.from([8])]])),
        decode: decodeValue.subOptions,
        value: new Map([[6, Buffer.from([8])]]),
      },
      {
        code: Option.VENDOR_CLASS,
        encode: encodeValue.text('HTTPClient'),
        decode: decodeValue.text,
        value: 'HTTPClient',
      },
      {
        code: Option.CLIENT_ID,
        encode: Buffer.from('01525400770003', 'hex'),
        decode: (b) => b.toString('hex'),
        value: '01525400770003',
      },
      {
        code: Option.TFTP_SERVER_NAME,
        encode: encodeValue.text('10.77.1.1'),
        decode: decodeValue.text,
        value: '10.77.1.1',
      },
      {
        code: Option.BOOTFILE_NAME,
        encode: encodeValue.text('http://10.77.1.1:8080/boot.ipxe'),
        decode: decodeValue.text,
        value: 'http://10.77.1.1:8080/boot.ipxe',
      },
      {
        code: Option.USER_CLASS,
        encode: Buffer.from('\x04iPXE\x03foo', 'latin1'),
        decode: decodeValue.userClasses,
        value: ['iPXE', 'foo'],
      },
      { code: Option.CLIENT_ARCH, encode: encodeValue.u16List([7, 16]), decode: decodeValue.u16List, value: [7, 16] },
      {
        code: Option.CLIENT_NDI,
        encode: encodeValue.ndi({ type: 1, major: 3, minor: 16 }),
        decode: decodeValue.ndi,
        value: { type: 1, major: 3, minor: 16 },
      },
      { code: Option.CLIENT_UUID, encode: encodeValue.uuid(uuid), decode: decodeValue.uuid, value: uuid },
      {
        code: Option.IPXE,
        encode: encodeValue.subOptions(
          new Map([
            [0x13, Buffer.from([1])],
            [0xeb, Buffer.from([1, 0, 0])],
          ]),
        ),
        decode: decodeValue.subOptions,
        value: new Map([
          [0x13, Buffer.from([1])],
          [0xeb, Buffer.from([1, 0, 0])],
        ]),
      },
    ];
    for (const c of cases) {
      it(`round-trips option ${c.code} through a whole packet`, () => {
        const packet = parseOk(
          encodeDhcp(
            samplePacket(
              new Map([
                [Option.MESSAGE_TYPE, encodeValue.u8(1)],
                [c.code, c.encode],
              ]),
            ),
          ),
        );
        expect(c.decode(packet.options.get(c.code)!)).to.deep.equal(c.value);
      });
    }

    it('rejects option values of the wrong length instead of misreading them', () => {
      expect(decodeValue.ip(Buffer.from([10, 0, 0]))).to.equal(undefined);
      expect(decodeValue.u32(Buffer.from([1, 2]))).to.equal(undefined);
      expect(decodeValue.u16List(Buffer.from([0]))).to.equal(undefined);
      expect(decodeValue.uuid(Buffer.alloc(16))).to.equal(undefined);
    });

    it('strips the trailing NUL some servers and firmwares put on text options', () => {
      expect(decodeValue.text(Buffer.from('undionly.kpxe\0'))).to.equal('undionly.kpxe');
    });
  });

  describe('option area rules (RFC 2131/2132/3396)', () => {
    it('treats pad as one byte with no length (the dhcp package skips one byte too many)', () => {
      const buf = rawPacket([0, 0, 53, 1, 1, 0, 60, 3, 0x61, 0x62, 0x63, 0, 255]);
      const packet = parseOk(buf);
      expect(packet.options.get(53)?.[0]).to.equal(1);
      expect(decodeValue.text(packet.options.get(60)!)).to.equal('abc');
    });

    it('keeps unknown options verbatim and in order', () => {
      const buf = rawPacket([53, 1, 3, 224, 2, 0xbe, 0xef, 250, 0, 82, 3, 1, 1, 9, 255]);
      const packet = parseOk(buf);
      expect([...packet.options.keys()]).to.deep.equal([53, 224, 250, 82]);
      expect(packet.options.get(224)?.toString('hex')).to.equal('beef');
      expect(packet.options.get(250)?.length).to.equal(0);
      expect(encodeDhcp(packet).subarray(240, 255).toString('hex')).to.equal(
        Buffer.from([53, 1, 3, 224, 2, 0xbe, 0xef, 250, 0, 82, 3, 1, 1, 9, 255]).toString('hex'),
      );
    });

    it('joins a split option and splits a long one (RFC 3396)', () => {
      const joined = parseOk(rawPacket([53, 1, 1, 43, 2, 1, 2, 43, 2, 3, 4, 255]));
      expect(joined.options.get(43)?.toString('hex')).to.equal('01020304');
      const long = Buffer.alloc(300, 0x41);
      const again = parseOk(encodeDhcp(samplePacket(new Map([[Option.BOOTFILE_NAME, long]]))));
      expect(again.options.get(Option.BOOTFILE_NAME)?.equals(long)).to.equal(true);
    });

    it('reads options overloaded into the file and sname fields (option 52)', () => {
      const buf = rawPacket([53, 1, 1, 52, 1, 3, 255]);
      Buffer.from([67, 4, 0x61, 0x2e, 0x65, 0x66, 255]).copy(buf, 108); // file field
      Buffer.from([66, 3, 0x74, 0x66, 0x74, 255]).copy(buf, 44); // sname field
      const packet = parseOk(buf);
      expect(decodeValue.text(packet.options.get(Option.BOOTFILE_NAME)!)).to.equal('a.ef');
      expect(decodeValue.text(packet.options.get(Option.TFTP_SERVER_NAME)!)).to.equal('tft');
      expect(packet.file).to.equal('');
      expect(packet.sname).to.equal('');
    });

    it('accepts an option area that ends without the end option', () => {
      const buf = rawPacket([53, 1, 1]);
      expect(parseOk(buf).options.get(53)?.[0]).to.equal(1);
    });

    it('encodedLength agrees with encodeDhcp, also for split and empty options', () => {
      for (const name of fixtureNames) {
        const packet = parseOk(fixture(name));
        expect(encodedLength(packet), name).to.equal(encodeDhcp(packet).length);
        packet.options.set(Option.DOMAIN_NAME, Buffer.alloc(600, 0x61));
        packet.options.set(250, Buffer.alloc(0));
        expect(encodedLength(packet), `${name} + long options`).to.equal(encodeDhcp(packet).length);
      }
    });

    it('pads what it encodes to the 300-byte BOOTP minimum, after an end option', () => {
      const encoded = encodeDhcp(samplePacket(new Map([[Option.MESSAGE_TYPE, encodeValue.u8(2)]])));
      expect(encoded.length).to.equal(300);
      expect([...encoded.subarray(240, 244)]).to.deep.equal([53, 1, 2, 255]);
    });
  });

  describe('garbage and truncation', () => {
    const rejects = [
      { what: 'an empty buffer', buf: Buffer.alloc(0) },
      { what: 'a header without a cookie', buf: Buffer.alloc(236) },
      { what: 'a wrong magic cookie', buf: Buffer.concat([Buffer.alloc(236), Buffer.from([1, 2, 3, 4])]) },
      { what: 'an option whose length runs past the end', buf: rawPacket([53, 1, 1, 60, 200, 0x61]) },
      { what: 'an option code with no length byte', buf: rawPacket([53, 1, 1, 60]) },
      { what: 'hlen larger than chaddr', buf: withByte(rawPacket([255]), 2, 17) },
    ];
    for (const { what, buf } of rejects) {
      it(`rejects ${what}`, () => {
        const result = parseDhcp(buf);
        expect(result.ok).to.equal(false);
      });
    }

    it('never throws on any truncation of any captured packet', () => {
      for (const name of fixtureNames) {
        const original = fixture(name);
        for (let length = 0; length < original.length; length++) {
          const result = parseDhcp(original.subarray(0, length));
          if (result.ok) readClientRequest(result.packet);
        }
      }
    });

    it('never throws on random bytes behind a valid header (bounded fuzz)', () => {
      let seed = 12345;
      const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256;
      for (let round = 0; round < 2000; round++) {
        const body = Array.from({ length: round % 120 }, random);
        const result = parseDhcp(rawPacket(body));
        if (result.ok) readClientRequest(result.packet);
      }
    });
  });
});

function samplePacket(options: Map<number, Buffer>): DhcpPacket {
  return bootRequest({ xid: 0xdeadbeef, chaddr: Buffer.from('020000770001' + '00'.repeat(10), 'hex'), options });
}

/** A BOOTP header, the cookie, then exactly these option-area bytes. */
function rawPacket(optionArea: number[]): Buffer {
  const header = Buffer.alloc(236);
  header[0] = 1;
  header[1] = 1;
  header[2] = 6;
  return Buffer.concat([header, Buffer.from([0x63, 0x82, 0x53, 0x63]), Buffer.from(optionArea)]);
}

function withByte(buf: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(buf);
  copy[offset] = value;
  return copy;
}
