import { expect } from 'chai';
import { configSchema } from '../../server/config/schema.js';
import {
  catalogCheck,
  nodeProfilesCheck,
  configCheck,
  databaseCheck,
  exitCodeFor,
  firmwareKinds,
  interfaceCheck,
  ipxeBinaryCheck,
  otherDhcpCheck,
  portCheck,
  sshHostKeysCheck,
  installRoundsCheck,
  unpinnedNodesCheck,
  portsToCheck,
  profileFilesCheck,
  reservationsCheck,
  templatesCheck,
  type CheckResult,
  type CheckStatus,
  type DatabaseFacts,
  type DhcpOffer,
  type DhcpProbe,
  type FirmwareKind,
  type InterfaceFacts,
  type PortProbe,
  type PortUse,
} from '../../server/doctor/checks.js';
import { readOffer, discoverPacket } from '../../server/doctor/dhcp-offers.js';
import { isHomeportCommand } from '../../server/doctor/probes.js';
import { encodeDhcp, encodeValue, MessageType, Option, parseDhcp, readClientRequest } from '../../server/dhcp/codec.js';

/** Status, and words the detail (and fix, when one is expected) must hold. */
interface Expectation {
  status: CheckStatus;
  detail: RegExp;
  fix?: RegExp;
}

function expectResult(result: CheckResult, expected: Expectation): void {
  expect(result.status, JSON.stringify(result)).to.equal(expected.status);
  expect(result.detail).to.match(expected.detail);
  if (expected.status === 'ok') expect(result.fix).to.equal(null);
  else expect(result.fix, 'a warn or fail says what to do').to.be.a('string').and.not.equal('');
  if (expected.fix) expect(result.fix).to.match(expected.fix);
}

describe('doctor checks (pure)', () => {
  it('exit code is 0 with warnings, 1 with any failure', () => {
    const r = (status: CheckStatus): CheckResult => ({
      name: 'x',
      status,
      detail: '',
      fix: status === 'ok' ? null : 'do',
    });
    const table: [CheckStatus[], number][] = [
      [[], 0],
      [['ok', 'ok'], 0],
      [['ok', 'warn'], 0],
      [['warn', 'fail', 'ok'], 1],
    ];
    for (const [statuses, code] of table) expect(exitCodeFor(statuses.map(r)), statuses.join(',')).to.equal(code);
  });

  it('config and boot profiles', () => {
    const table: [CheckResult, Expectation][] = [
      [configCheck({ file: '/etc/homeport/homeport.yaml' }), { status: 'ok', detail: /homeport\.yaml is valid/ }],
      [configCheck({ file: null }), { status: 'ok', detail: /defaults/ }],
      [
        configCheck({ error: 'config file x: dhcp.pool: is required when dhcp.mode is full' }),
        { status: 'fail', detail: /dhcp\.pool/, fix: /config check/ },
      ],
      [catalogCheck({ profiles: ['debian', 'proxmox'] }), { status: 'ok', detail: /2 loaded: debian, proxmox/ }],
      [catalogCheck({ profiles: [] }), { status: 'warn', detail: /every machine waits/ }],
      [catalogCheck({ error: 'template x.ipxe: cannot read it' }), { status: 'fail', detail: /x\.ipxe/ }],
      [
        nodeProfilesCheck(['debian'], [{ mac: '52:54:00:00:00:01', hostname: 'pve1', profile: 'debian' }]),
        { status: 'ok', detail: /1 node\(s\) name a profile; all exist/ },
      ],
      [
        nodeProfilesCheck(
          ['debian', 'proxmox'],
          [
            { mac: '52:54:00:00:00:01', hostname: 'pve1', profile: 'debain' },
            { mac: '52:54:00:00:00:02', hostname: null, profile: 'pve' },
            { mac: '52:54:00:00:00:03', hostname: 'ok1', profile: 'proxmox' },
          ],
        ),
        {
          status: 'warn',
          detail:
            /^2 node\(s\) name a missing profile: pve1 \(52:54:00:00:00:01\): debain, 52:54:00:00:00:02 \(52:54:00:00:00:02\): pve$/,
          fix: /known profile \(debian, proxmox\)/,
        },
      ],
    ];
    for (const [result, expected] of table) expectResult(result, expected);
  });

  it('ssh host keys: accept is a warning naming the fix', () => {
    const accept = sshHostKeysCheck({ hostKeys: 'accept' });
    expect(accept.status).to.equal('warn');
    expect(accept.fix).to.match(/pinned/);
    expect(sshHostKeysCheck({ hostKeys: 'pinned' }).status).to.equal('ok');
    expect(sshHostKeysCheck({ hostKeys: 'known_hosts' }).status).to.equal('ok');
  });

  it('install rounds: an open phone-home or an unbound round is a warning naming what a stranger gains', () => {
    const table: [Parameters<typeof installRoundsCheck>[0], 'ok' | 'warn', RegExp][] = [
      [{ openPhoneHome: false, bindSource: 'first-use' }, 'ok', /bound to the first address/],
      [{ openPhoneHome: false, bindSource: 'lease' }, 'ok', /DHCP lease/],
      [{ openPhoneHome: true, bindSource: 'first-use' }, 'warn', /need no token/],
      [{ openPhoneHome: false, bindSource: 'off' }, 'warn', /to any address/],
      [{ openPhoneHome: true, bindSource: 'off' }, 'warn', /need no token.*to any address/],
    ];
    for (const [auth, status, detail] of table) {
      const result = installRoundsCheck(auth);
      expect(result.status, JSON.stringify(auth)).to.equal(status);
      expect(result.detail, JSON.stringify(auth)).to.match(detail);
    }
  });

  it('nodes without pinned host keys: named, at most ten, with the count of the rest', () => {
    expect(unpinnedNodesCheck(null).status).to.equal('ok');
    expect(unpinnedNodesCheck({ total: 0, names: [] }).status).to.equal('ok');
    const some = unpinnedNodesCheck({ total: 12, names: ['pve1', 'pve2'] });
    expect(some.status).to.equal('warn');
    expect(some.detail).to.match(/^12 node\(s\) .*: pve1, pve2, and 10 more$/);
    expect(some.fix).to.match(/homeport-register sends the keys/);
    expect(unpinnedNodesCheck({ error: 'no answer' }).detail).to.contain('no answer');
  });

  it('database', () => {
    const table: [DatabaseFacts, Expectation][] = [
      [
        { kind: 'sqlite', where: '/var/lib/homeport/homeport.sqlite', state: 'missing' },
        { status: 'warn', detail: /no SQLite database yet/, fix: /homeport migrate/ },
      ],
      [
        { kind: 'postgres', where: 'postgres://hp:***@db/hp', state: 'unreachable', error: 'connect ECONNREFUSED' },
        { status: 'fail', detail: /ECONNREFUSED/, fix: /DATABASE_URL/ },
      ],
      [
        { kind: 'sqlite', where: 'x.sqlite', state: 'unreachable', error: 'file is not a database' },
        { status: 'fail', detail: /not a database/, fix: /read and write/ },
      ],
      [
        { kind: 'sqlite', where: 'x.sqlite', state: 'reachable', pending: ['003_job_stages'] },
        { status: 'warn', detail: /1 migration\(s\) not applied: 003_job_stages/, fix: /homeport migrate/ },
      ],
      [
        { kind: 'postgres', where: 'postgres://db/hp', state: 'reachable', pending: [] },
        { status: 'ok', detail: /schema up to date/ },
      ],
    ];
    for (const [facts, expected] of table) expectResult(databaseCheck(facts), expected);
  });

  it('interface', () => {
    const dhcp = { mode: 'full' as const, interface: 'br0', serverIp: '10.0.0.1' };
    const facts = (f: Partial<InterfaceFacts>): InterfaceFacts => ({
      exists: true,
      addresses: ['10.0.0.1'],
      available: ['lo', 'br0'],
      ...f,
    });
    const table: [Parameters<typeof interfaceCheck>[0], InterfaceFacts | null, Expectation][] = [
      [{ mode: 'off', interface: undefined, serverIp: undefined }, null, { status: 'ok', detail: /mode is off/ }],
      [dhcp, facts({}), { status: 'ok', detail: /br0 has 10\.0\.0\.1/ }],
      [
        dhcp,
        facts({ exists: false, addresses: null, available: ['lo', 'eth0'] }),
        { status: 'fail', detail: /no network interface named br0/, fix: /lo, eth0/ },
      ],
      [
        dhcp,
        facts({ addresses: null }),
        { status: 'warn', detail: /down or has no carrier/, fix: /ip link set br0 up/ },
      ],
      [
        dhcp,
        facts({ addresses: ['10.0.0.2'] }),
        {
          status: 'fail',
          detail: /has 10\.0\.0\.2, not dhcp\.serverIp 10\.0\.0\.1/,
          fix: /ip addr add 10\.0\.0\.1\/24 dev br0/,
        },
      ],
      [dhcp, facts({ addresses: [] }), { status: 'fail', detail: /no IPv4 address/ }],
    ];
    for (const [config, f, expected] of table) expectResult(interfaceCheck(config, f), expected);
  });

  it('ports to check follow the config', () => {
    const base = configSchema.parse({});
    expect(portsToCheck(base).map((p) => `${p.proto}/${p.port}`)).to.deep.equal(['tcp/8080']);
    const full = configSchema.parse({
      http: { port: 80 },
      tftp: { enabled: true },
      dhcp: {
        mode: 'full',
        interface: 'br0',
        serverIp: '10.0.0.1',
        pool: { start: '10.0.0.100', end: '10.0.0.200', subnetMask: '255.255.255.0' },
      },
    });
    expect(portsToCheck(full).map((p) => `${p.proto}/${p.port} ${p.purpose}`)).to.deep.equal([
      'udp/67 DHCP',
      'udp/4011 PXE boot server (proxyDHCP)',
      'udp/69 TFTP',
      'tcp/80 HTTP',
    ]);
  });

  it('ports', () => {
    const dhcp: PortUse = { proto: 'udp', host: '0.0.0.0', port: 67, purpose: 'DHCP' };
    const http: PortUse = { proto: 'tcp', host: '0.0.0.0', port: 8080, purpose: 'HTTP' };
    const table: [PortUse, PortProbe, Expectation][] = [
      [dhcp, { state: 'free' }, { status: 'ok', detail: /free/ }],
      [
        dhcp,
        { state: 'held', owner: 'node (pid 12)', byHomeport: true },
        { status: 'ok', detail: /running homeport \(node \(pid 12\)\)/ },
      ],
      [dhcp, { state: 'held', owner: null, byHomeport: true }, { status: 'ok', detail: /running homeport$/ }],
      [
        dhcp,
        { state: 'held', owner: 'dnsmasq (pid 7)', byHomeport: false },
        { status: 'fail', detail: /in use by dnsmasq/, fix: /stop dnsmasq.*dhcp\.mode: proxy/ },
      ],
      [
        http,
        { state: 'held', owner: null, byHomeport: false },
        { status: 'fail', detail: /another process/, fix: /ss -lpn sport = :8080.*another port/ },
      ],
      [dhcp, { state: 'denied' }, { status: 'warn', detail: /CAP_NET_BIND_SERVICE/ }],
      [
        http,
        { state: 'error', message: 'cannot bind: EADDRNOTAVAIL' },
        { status: 'fail', detail: /EADDRNOTAVAIL/, fix: /http\.host/ },
      ],
    ];
    for (const [use, probe, expected] of table) expectResult(portCheck(use, probe), expected);
  });

  it('firmware kinds: defaults overlaid with dhcp.bootFiles', () => {
    const kinds = firmwareKinds({ '7': 'ipxe.efi', '99': 'custom.efi' });
    const byArch = new Map(kinds.map((k) => [k.arch, k]));
    expect(byArch.get(0)).to.deep.include({ label: 'BIOS', file: 'undionly.kpxe', via: 'tftp', configured: false });
    expect(byArch.get(7)).to.deep.include({ label: 'EFI x64', file: 'ipxe.efi', via: 'tftp', configured: true });
    expect(byArch.get(16)).to.deep.include({ file: 'snponly.efi', via: 'http' });
    expect(byArch.get(99)).to.deep.include({ label: 'arch 99', configured: true });
    expect(kinds.map((k) => k.arch)).to.deep.equal([...kinds.map((k) => k.arch)].sort((a, b) => a - b));
  });

  it('iPXE binaries', () => {
    const kind = (arch: number, configured = false): FirmwareKind => ({
      arch,
      label: `a${arch}`,
      file: 'f.efi',
      via: 'tftp',
      configured,
    });
    const roots = ['/var/lib/homeport/tftp', '/usr/lib/ipxe'];
    const table: [FirmwareKind, Parameters<typeof ipxeBinaryCheck>[1], Expectation][] = [
      [
        kind(0),
        { state: 'found', path: '/usr/lib/ipxe/f.efi' },
        { status: 'ok', detail: /over TFTP from \/usr\/lib\/ipxe\/f\.efi/ },
      ],
      [
        kind(0),
        { state: 'missing' },
        {
          status: 'fail',
          detail: /not found in \/var\/lib\/homeport\/tftp, \/usr\/lib\/ipxe/,
          fix: /apt install ipxe/,
        },
      ],
      [kind(11), { state: 'missing' }, { status: 'warn', detail: /default entry/ }],
      [kind(11, true), { state: 'missing' }, { status: 'fail', detail: /cannot boot/, fix: /dhcp\.bootFiles\.11/ }],
      [
        kind(7),
        { state: 'refused', reason: 'path leads outside the root' },
        { status: 'fail', detail: /refused: path leads outside/, fix: /symlink/ },
      ],
      [
        { ...kind(16), via: 'http' },
        { state: 'found', path: '/usr/lib/ipxe/f.efi' },
        { status: 'ok', detail: /at \/ipxe\// },
      ],
    ];
    for (const [k, lookup, expected] of table) expectResult(ipxeBinaryCheck(k, lookup, roots), expected);
  });

  it('profile files and templates', () => {
    const table: [CheckResult, Expectation][] = [
      [
        profileFilesCheck(
          'debian',
          [
            { ref: 'debian/linux', state: 'present' },
            { ref: 'debian/initrd.gz', state: 'present' },
          ],
          '/a',
          true,
        ),
        { status: 'ok', detail: /2 present under \/a$/ },
      ],
      [
        profileFilesCheck(
          'x',
          [
            { ref: 'k', state: 'present' },
            { ref: 'https://m/i', state: 'remote' },
          ],
          '/a',
          true,
        ),
        { status: 'ok', detail: /1 present under \/a, 1 remote/ },
      ],
      [
        profileFilesCheck(
          'x',
          [
            { ref: 'k', state: 'missing' },
            { ref: 'i', state: 'present' },
          ],
          '/a',
          true,
        ),
        { status: 'fail', detail: /missing under \/a: k$/, fix: /boot\.assetsDir/ },
      ],
      [
        profileFilesCheck('x', [{ ref: 'k', state: 'missing' }], '/a', false),
        { status: 'warn', detail: /missing under \/a: k \(no group or defaultProfile uses it/ },
      ],
      [profileFilesCheck('x', [], '/a', true), { status: 'ok', detail: /custom iPXE template/ }],
      [
        templatesCheck('x', [
          { template: 'install script', error: null },
          { template: 'config preseed', error: null },
        ]),
        { status: 'ok', detail: /install script, config preseed render/ },
      ],
      [
        templatesCheck('x', [
          { template: 'install script', error: null },
          { template: 'config a', error: '"nope" not defined' },
        ]),
        { status: 'fail', detail: /config a: "nope" not defined/ },
      ],
    ];
    for (const [result, expected] of table) expectResult(result, expected);
  });

  it('other DHCP servers, by mode', () => {
    const address: DhcpOffer = { server: '10.0.0.2', yiaddr: '10.0.0.100', bootFile: null };
    const proxy: DhcpOffer = { server: '10.0.0.3', yiaddr: '0.0.0.0', bootFile: 'pxelinux.0' };
    const own: DhcpOffer = { server: '10.0.0.1', yiaddr: '10.0.0.150', bootFile: 'undionly.kpxe' };
    const heard = (...offers: DhcpOffer[]): DhcpProbe => ({ state: 'listened', seconds: 4, offers });
    const table: [Parameters<typeof otherDhcpCheck>[0], DhcpProbe, Expectation][] = [
      ['off', { state: 'skipped', reason: 'dhcp.mode is off' }, { status: 'ok', detail: /not probed/ }],
      [
        'full',
        { state: 'error', message: 'binding port 68 needs root' },
        { status: 'warn', detail: /could not probe/ },
      ],
      ['full', heard(), { status: 'ok', detail: /none answered after one DISCOVER and 4 s/ }],
      ['full', heard(own), { status: 'ok', detail: /none answered/ }],
      [
        'full',
        heard(address, address),
        { status: 'fail', detail: /address offers from 10\.0\.0\.2 after/, fix: /dhcp\.mode: proxy/ },
      ],
      [
        'proxy',
        heard(address, own),
        { status: 'ok', detail: /address offers from 10\.0\.0\.2 .*fits dhcp\.mode proxy/ },
      ],
      ['proxy', heard(), { status: 'warn', detail: /no DHCP server answered/, fix: /dhcp\.mode: full/ }],
      [
        'proxy',
        heard(address, proxy),
        { status: 'warn', detail: /boot-only \(proxyDHCP\) offers from 10\.0\.0\.3/, fix: /10\.0\.0\.3/ },
      ],
      ['full', heard(address, proxy), { status: 'fail', detail: /two servers handing out addresses/ }],
    ];
    for (const [mode, probe, expected] of table) expectResult(otherDhcpCheck(mode, '10.0.0.1', probe), expected);
  });

  it('dhcp reservations: skipped addresses and addresses another MAC holds are warnings naming the MACs', () => {
    const table: [Parameters<typeof reservationsCheck>[0], Expectation][] = [
      [null, { status: 'ok', detail: /not checked/ }],
      [{ error: 'no answer' }, { status: 'warn', detail: /could not read reservations: no answer/ }],
      [
        { skipped: [], conflicts: [] },
        { status: 'ok', detail: /every node address/ },
      ],
      [
        {
          skipped: [
            { mac: '02:00:00:00:00:0a', ip: '10.0.0.1', reason: "10.0.0.1 is homeport's own address (dhcp.serverIp)" },
          ],
          conflicts: [],
        },
        { status: 'warn', detail: /02:00:00:00:00:0a: 10\.0\.0\.1 is homeport's own address/ },
      ],
      [
        { skipped: [], conflicts: [{ mac: '02:00:00:00:00:0b', ip: '10.0.0.20', holder: '02:00:00:00:00:99' }] },
        {
          status: 'warn',
          detail: /10\.0\.0\.20 of 02:00:00:00:00:0b is leased to 02:00:00:00:00:99/,
          fix: /free address/,
        },
      ],
    ];
    for (const [facts, expected] of table) expectResult(reservationsCheck(facts), expected);
  });

  it('the probe DISCOVER looks like a BIOS PXE ROM asking for a broadcast answer', () => {
    const parsed = parseDhcp(discoverPacket('02:aa:bb:cc:dd:ee', 0x1234));
    if (!parsed.ok) throw new Error(parsed.error);
    const view = readClientRequest(parsed.packet);
    expect(parsed.packet.flags & 0x8000).to.equal(0x8000);
    expect(view).to.deep.include({
      messageType: MessageType.DISCOVER,
      mac: '02:aa:bb:cc:dd:ee',
      vendorClass: 'PXEClient:Arch:00000:UNDI:002001',
      arch: 0,
    });
  });

  it('reads offers for our xid only', () => {
    const reply = (fields: { xid?: number; type?: number; yiaddr?: string; file?: string; serverId?: string }) =>
      encodeDhcp({
        op: 2,
        htype: 1,
        hlen: 6,
        hops: 0,
        xid: fields.xid ?? 7,
        secs: 0,
        flags: 0x8000,
        ciaddr: '0.0.0.0',
        yiaddr: fields.yiaddr ?? '10.0.0.100',
        siaddr: '0.0.0.0',
        giaddr: '0.0.0.0',
        chaddr: Buffer.alloc(16),
        sname: '',
        file: fields.file ?? '',
        options: new Map([
          [Option.MESSAGE_TYPE, encodeValue.u8(fields.type ?? MessageType.OFFER)],
          ...(fields.serverId ? [[Option.SERVER_ID, encodeValue.ip(fields.serverId)] as [number, Buffer]] : []),
        ]),
      });
    const table: [Buffer, ReturnType<typeof readOffer>][] = [
      [reply({ serverId: '10.0.0.2' }), { server: '10.0.0.2', yiaddr: '10.0.0.100', bootFile: null }],
      [
        reply({ yiaddr: '0.0.0.0', file: 'undionly.kpxe' }),
        { server: '10.9.9.9', yiaddr: '0.0.0.0', bootFile: 'undionly.kpxe' },
      ],
      [reply({ xid: 8 }), null],
      [reply({ type: MessageType.ACK }), null],
      [Buffer.from('not dhcp'), null],
    ];
    for (const [msg, expected] of table) expect(readOffer(msg, '10.9.9.9', 7)).to.deep.equal(expected);
  });

  it('recognises a homeport server process by its command line', () => {
    const table: [string, boolean][] = [
      [
        'node --import file:///opt/homeport/node_modules/tsx/dist/loader.mjs /opt/homeport/server/cli/main.ts serve --config /etc/homeport/homeport.yaml',
        true,
      ],
      [
        'node --enable-source-maps /opt/homeport/dist/server/cli/main.js serve --config /etc/homeport/homeport.yaml',
        true,
      ],
      ['/usr/local/bin/homeport serve', true],
      ['node /opt/homeport/server/cli/main.ts doctor', false],
      ['node --enable-source-maps /opt/homeport/dist/server/cli/main.js doctor', false],
      ['/usr/sbin/dnsmasq --no-daemon', false],
    ];
    for (const [cmdline, expected] of table) expect(isHomeportCommand(cmdline), cmdline).to.equal(expected);
  });
});
