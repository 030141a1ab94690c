/**
 * Regenerates test/fixtures/dhcp/*.bin from real clients (run as root, ~2 min):
 *   node --import tsx test/helpers/capture-dhcp-fixtures.ts
 * Inside a lab namespace: dnsmasq serves addresses, tcpdump records, and
 * dhclient, udhcpc, QEMU with the iPXE BIOS ROM and QEMU with OVMF (UEFI PXE)
 * each run DHCP. Every first packet per (client, message type) is saved raw.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDhcp, readClientRequest, clientMac, MESSAGE_TYPE_NAMES } from '../../server/dhcp/codec.js';
import { createLab, sleep, stopChild, type Lab } from './netns.js';
import { readPcapUdp } from './pcap.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/dhcp');
const CLIENTS: Record<string, string> = {
  '02:00:00:77:00:01': 'dhclient-pxe',
  '02:00:00:77:00:02': 'udhcpc',
  '52:54:00:77:00:03': 'qemu-ipxe-bios',
  '52:54:00:77:00:04': 'qemu-ovmf-uefi',
};

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-capture-'));
  const lab = await createLab({ subnet: '10.77.250' });
  try {
    const pcap = path.join(tmp, 'dhcp.pcap');
    lab.spawn(lab.ns, 'tcpdump', ['-i', 'br0', '-U', '-w', pcap, 'udp port 67 or udp port 68 or udp port 4011']);
    lab.spawn(lab.ns, 'dnsmasq', [
      '--no-daemon',
      '--conf-file=/dev/null',
      '--port=0',
      '--interface=br0',
      '--bind-interfaces',
      '--dhcp-range=10.77.250.100,10.77.250.200,255.255.255.0,1h',
      '--dhcp-boot=undionly.kpxe',
      `--dhcp-leasefile=${tmp}/dnsmasq.leases`,
      '--user=root',
      '--group=root',
    ]);
    await sleep(1500);
    await Promise.all([runDhclient(lab, tmp), runUdhcpc(lab), runQemu(lab, 'bios', tmp), runQemu(lab, 'uefi', tmp)]);
    await sleep(1000);
    await lab.destroy(); // stops tcpdump, flushing the capture
    saveFixtures(pcap);
  } finally {
    await lab.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function runDhclient(lab: Lab, tmp: string): Promise<void> {
  const host = await lab.addHost('dhclient', { mac: '02:00:00:77:00:01' });
  const conf = path.join(tmp, 'dhclient.conf');
  fs.writeFileSync(
    conf,
    [
      'timeout 15;',
      'option pxe-arch code 93 = unsigned integer 16;',
      'option pxe-uuid code 97 = string;',
      'send vendor-class-identifier "PXEClient:Arch:00000:UNDI:002001";',
      'send pxe-arch 0;',
      'send pxe-uuid 00:12:34:56:78:9a:bc:de:f0:11:22:33:44:55:66:77:88;',
      'send host-name "capture-host";',
      'request subnet-mask, routers, domain-name-servers, host-name, domain-name, bootfile-name, tftp-server-name;',
      '',
    ].join('\n'),
  );
  await lab.exec(
    host.ns,
    'dhclient',
    [
      '-d',
      '-1',
      '-v',
      '-cf',
      conf,
      '-sf',
      '/bin/true',
      '-lf',
      `${tmp}/dhclient.leases`,
      '-pf',
      `${tmp}/dhclient.pid`,
      'eth0',
    ],
    { timeoutMs: 30_000 },
  );
}

async function runUdhcpc(lab: Lab): Promise<void> {
  const host = await lab.addHost('udhcpc', { mac: '02:00:00:77:00:02' });
  await lab.exec(
    host.ns,
    'udhcpc',
    [
      '-i',
      'eth0',
      '-n',
      '-q',
      '-f',
      '-t',
      '3',
      '-s',
      '/bin/true',
      '-V',
      'PXEClient:Arch:00007:UNDI:003016',
      '-x',
      '0x5d:0007',
      '-x',
      '0x4d:69505845',
    ],
    { timeoutMs: 30_000 },
  );
}

async function runQemu(lab: Lab, firmware: 'bios' | 'uefi', tmp: string): Promise<void> {
  const tap = await lab.addTap();
  const mac = firmware === 'bios' ? '52:54:00:77:00:03' : '52:54:00:77:00:04';
  const args = [
    '-machine',
    'q35,accel=tcg',
    '-m',
    '256',
    '-display',
    'none',
    '-serial',
    'none',
    '-monitor',
    'none',
    '-boot',
    'n',
    '-netdev',
    `tap,id=n0,ifname=${tap},script=no,downscript=no`,
  ];
  if (firmware === 'bios') {
    args.push('-device', `virtio-net-pci,netdev=n0,mac=${mac}`);
  } else {
    const vars = path.join(tmp, 'OVMF_VARS_4M.fd');
    fs.copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
    args.push(
      '-drive',
      'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
      '-drive',
      `if=pflash,format=raw,file=${vars}`,
    );
    args.push('-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=`);
  }
  const vm = lab.spawn(lab.ns, 'qemu-system-x86_64', args);
  await sleep(firmware === 'bios' ? 40_000 : 75_000);
  await stopChild(vm);
}

function saveFixtures(pcap: string): void {
  const seen = new Set<string>();
  for (const datagram of readPcapUdp(pcap)) {
    const parsed = parseDhcp(datagram.payload);
    if (!parsed.ok) continue;
    const request = readClientRequest(parsed.packet);
    const mac = clientMac(parsed.packet) ?? '';
    const who = parsed.packet.op === 1 ? CLIENTS[mac] : `dnsmasq-to-${CLIENTS[mac]}`;
    const type = MESSAGE_TYPE_NAMES[request.messageType ?? 0]?.toLowerCase();
    if (!who || !type || who.endsWith('undefined')) continue;
    const name = `${who}-${type}`;
    if (seen.has(name)) continue;
    seen.add(name);
    fs.writeFileSync(path.join(FIXTURES, `${name}.bin`), datagram.payload);
    console.log(`saved ${name}.bin (${datagram.payload.length} bytes)`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
