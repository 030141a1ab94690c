import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { DEFAULT_BOOT_FILES, decideBoot, type BootSettings } from '../../server/dhcp/boot-decision.js';
import { parseDhcp, readClientRequest, type ClientRequest } from '../../server/dhcp/codec.js';

const settings: BootSettings = {
  httpBaseUrl: 'http://10.77.1.1:8080',
  tftpServerIp: '10.77.1.1',
  bootFiles: DEFAULT_BOOT_FILES,
};

function request(fields: Partial<ClientRequest>): ClientRequest {
  return {
    messageType: 1,
    mac: '02:00:00:00:00:01',
    clientId: undefined,
    requestedIp: undefined,
    serverId: undefined,
    hostname: undefined,
    vendorClass: undefined,
    userClasses: [],
    arch: undefined,
    uuid: undefined,
    ipxeOptions: false,
    parameterRequestList: [],
    ...fields,
  };
}

const tftp = (bootFile: string) => ({ kind: 'tftp', bootFile, nextServer: '10.77.1.1', vendorClass: 'PXEClient' });
const script = {
  kind: 'ipxe-script',
  bootFile: 'http://10.77.1.1:8080/boot.ipxe',
  nextServer: '10.77.1.1',
  vendorClass: 'PXEClient',
};

describe('dhcp boot decision', () => {
  const table: { what: string; request: Partial<ClientRequest>; settings?: Partial<BootSettings>; answer: object }[] = [
    {
      what: 'BIOS PXE (arch 0)',
      request: { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', arch: 0 },
      answer: tftp('undionly.kpxe'),
    },
    {
      what: 'UEFI x64 (arch 7)',
      request: { vendorClass: 'PXEClient:Arch:00007:UNDI:003000', arch: 7 },
      answer: tftp('snponly.efi'),
    },
    {
      what: 'UEFI x64 (arch 9)',
      request: { vendorClass: 'PXEClient:Arch:00009:UNDI:003000', arch: 9 },
      answer: tftp('snponly.efi'),
    },
    {
      what: 'UEFI x64 with ipxe.efi configured',
      request: { vendorClass: 'PXEClient', arch: 7 },
      settings: { bootFiles: { ...DEFAULT_BOOT_FILES, 7: 'ipxe.efi' } },
      answer: tftp('ipxe.efi'),
    },
    {
      what: 'ARM64 UEFI (arch 11)',
      request: { vendorClass: 'PXEClient:Arch:00011:UNDI:003000', arch: 11 },
      answer: tftp('ipxe-arm64.efi'),
    },
    {
      what: 'ARM64 with its own file configured',
      request: { vendorClass: 'PXEClient', arch: 11 },
      settings: { bootFiles: { ...DEFAULT_BOOT_FILES, 11: 'arm64/snp.efi' } },
      answer: tftp('arm64/snp.efi'),
    },
    {
      what: 'arch only in the vendor class',
      request: { vendorClass: 'PXEClient:Arch:00007:UNDI:003000' },
      answer: tftp('snponly.efi'),
    },
    {
      what: 'PXE without any arch (old BIOS ROMs)',
      request: { vendorClass: 'PXEClient' },
      answer: tftp('undionly.kpxe'),
    },
    {
      what: 'UEFI HTTP boot (arch 16, HTTPClient)',
      request: { vendorClass: 'HTTPClient:Arch:00016:UNDI:003001', arch: 16 },
      answer: { kind: 'http', bootFile: 'http://10.77.1.1:8080/ipxe/snponly.efi', vendorClass: 'HTTPClient' },
    },
    {
      what: 'UEFI HTTP boot with a custom path',
      request: { vendorClass: 'HTTPClient', arch: 16 },
      settings: { httpBootPath: '/static' },
      answer: { kind: 'http', bootFile: 'http://10.77.1.1:8080/static/snponly.efi', vendorClass: 'HTTPClient' },
    },
    {
      what: 'iPXE by user class',
      request: { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', arch: 0, userClasses: ['iPXE'] },
      answer: script,
    },
    {
      what: 'iPXE by option 175 alone',
      request: { vendorClass: 'PXEClient:Arch:00007:UNDI:003016', arch: 7, ipxeOptions: true },
      answer: script,
    },
    { what: 'iPXE without a vendor class', request: { userClasses: ['iPXE'] }, answer: script },
    {
      what: 'an ordinary client',
      request: { vendorClass: 'udhcp 1.35.0' },
      answer: { kind: 'none', reason: 'not a network-boot client' },
    },
    {
      what: 'a client without vendor class',
      request: {},
      answer: { kind: 'none', reason: 'not a network-boot client' },
    },
    {
      what: 'an arch with no file',
      request: { vendorClass: 'PXEClient', arch: 2 },
      answer: { kind: 'none', reason: 'no boot file configured for arch 2' },
    },
  ];

  for (const row of table) {
    it(row.what, () => {
      expect(decideBoot(request(row.request), { ...settings, ...row.settings })).to.deep.equal(row.answer);
    });
  }

  describe('on captured packets', () => {
    const fromFixture = (name: string) => {
      const result = parseDhcp(fs.readFileSync(path.resolve(import.meta.dirname, `../fixtures/dhcp/${name}.bin`)));
      if (!result.ok) throw new Error(result.error);
      return decideBoot(readClientRequest(result.packet), settings);
    };
    it('the iPXE BIOS ROM gets the HTTP entry script', () =>
      expect(fromFixture('qemu-ipxe-bios-discover')).to.deep.equal(script));
    it('OVMF UEFI PXE gets snponly.efi over TFTP', () =>
      expect(fromFixture('qemu-ovmf-uefi-discover')).to.deep.equal(tftp('snponly.efi')));
    it('dhclient sending a BIOS PXE vendor class gets undionly.kpxe', () =>
      expect(fromFixture('dhclient-pxe-discover')).to.deep.equal(tftp('undionly.kpxe')));
  });
});
