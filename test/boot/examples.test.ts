import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCatalog } from '../../server/boot/catalog.js';
import { SHIPPED_TEMPLATES_DIR } from '../../server/boot/paths.js';
import { loadConfig } from '../../server/config/load.js';
import { ConfigError } from '../../server/kernel/config-error.js';
import { runHomeport } from '../helpers/cli.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { bootScript, writeTemplates } from './helpers.js';

describe('boot-templates examples render for a sample node', function () {
  this.timeout(30_000);
  let hp: TestHomeport;
  before(async () => (hp = await startTestHomeport()));
  after(async () => hp?.stop());

  const catalog = loadCatalog({
    templatesDir: SHIPPED_TEMPLATES_DIR,
    configProfiles: {},
    groups: [],
    defaultProfile: undefined,
  });

  it('ships Debian, Proxmox VE and a generic Linux initramfs', () => {
    expect([...catalog.keys()]).to.include.members(['debian', 'proxmox', 'linux-initramfs']);
  });

  [...catalog.values()].forEach((loaded, i) => {
    const mac = `52:54:00:d0:00:${i.toString(16).padStart(2, '0')}`;
    it(`profile ${loaded.name}: its iPXE script and every config render over HTTP`, async () => {
      const created = await hp.request('POST', '/api/nodes', {
        admin: true,
        body: { mac, hostname: `node${i}`, cluster: 'lab', labels: { rack: 'r1' }, profile: loaded.name },
      });
      expect(created.status).to.equal(201);
      const script = await bootScript(hp, mac);
      expect(script.kind, script.text).to.equal('install');
      expect(script.text).to.match(/^#!ipxe\n/);
      for (const name of loaded.configs.keys()) {
        const response = await fetch(`${hp.baseUrl}/config/${mac}/${name}`);
        const text = await response.text();
        expect(response.status, `${name}: ${text}`).to.equal(200);
        if (loaded.configs.get(name)!.language === 'sh') execFileSync('sh', ['-n'], { input: text }); // parses as POSIX sh
        expect(text, name).to.contain(`node${i}`);
      }
    });
  });
});

describe('boot config: one-line errors naming the key', () => {
  const env = (extra: Record<string, string>) => ({
    HOMEPORT_DATADIR: '/tmp/homeport-unused',
    HOMEPORT_CONFIG: '',
    ...extra,
  });
  const cases: [Record<string, string>, RegExp][] = [
    [
      { HOMEPORT_BOOT__UNKNOWN: 'maybe' },
      /^environment HOMEPORT_BOOT__UNKNOWN: boot\.unknown: must be one of discover, default, deny \(got "maybe"\)$/,
    ],
    [
      { HOMEPORT_BOOT__RETRYSECONDS: '0' },
      /^environment HOMEPORT_BOOT__RETRYSECONDS: boot\.retrySeconds: must be at least 1$/,
    ],
    [
      { HOMEPORT_BOOT__LOCALBOOT__PCBIOS: 'grub' },
      /^environment HOMEPORT_BOOT__LOCALBOOT__PCBIOS: boot\.localBoot\.pcbios: must be one of exit, sanboot/,
    ],
    [
      { HOMEPORT_BOOT__LOCALBOOT__SANBOOTDRIVE: 'hd0' },
      /^environment HOMEPORT_BOOT__LOCALBOOT__SANBOOTDRIVE: boot\.localBoot\.sanbootDrive: must be a BIOS drive number such as 0x80$/,
    ],
    [
      { HOMEPORT_BOOT__GROUPS: '[{"profile":"debian","match":{"mac":"zz"}}]' },
      /^environment HOMEPORT_BOOT__GROUPS: boot\.groups\.0\.match\.mac\.0: must be a MAC address/,
    ],
    [
      { HOMEPORT_BOOT__GROUPS: '[{"profile":"debian","match":{"rack":"r1"}}]' },
      /^environment HOMEPORT_BOOT__GROUPS: unknown key boot\.groups\.0\.match\.rack$/,
    ],
    [
      { HOMEPORT_BOOT__DEFAULTPROFILE: 'bad name' },
      /^environment HOMEPORT_BOOT__DEFAULTPROFILE: boot\.defaultProfile: must be 1-63 letters/,
    ],
    [
      { HOMEPORT_BOOT__PROFILES: '{"x":{"args":"a"}}' },
      /^environment HOMEPORT_BOOT__PROFILES: boot\.profiles\.x\.kernel: needs a kernel or an ipxe template$/,
    ],
    [{ HOMEPORT_BOOT__NOPE: '1' }, /^environment HOMEPORT_BOOT__NOPE: unknown key boot\.nope$/],
  ];
  for (const [extra, expected] of cases) {
    it(`rejects ${JSON.stringify(extra)}`, () => {
      expect(() => loadConfig(undefined, env(extra))).to.throw(ConfigError, expected);
    });
  }

  it('refuses to start when a group or the default names no profile, or a profile file is wrong', async () => {
    const templates = writeTemplates(
      fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-bad-')),
      { ok: 'kernel: k\n', bad: 'kernel: 42\n' },
      {},
    );
    try {
      const start = (extra: Record<string, string>) =>
        startTestHomeport({ env: extra }).then(
          async (hp) => (await hp.stop(), 'started'),
          (err: Error) => err.message,
        );
      expect(await start({ HOMEPORT_BOOT__DEFAULTPROFILE: 'nope' })).to.match(
        /^config: boot\.defaultProfile: no profile nope \(known: debian, linux-initramfs, proxmox\)$/,
      );
      expect(await start({ HOMEPORT_BOOT__GROUPS: '[{"profile":"nope"}]' })).to.match(
        /^config: boot\.groups\.0\.profile: no profile nope/,
      );
      expect(await start({ HOMEPORT_BOOT__TEMPLATESDIR: templates })).to.match(
        /^boot profile .*bad\.yaml: kernel: must be string \(got number\)$/,
      );
      fs.writeFileSync(path.join(templates, 'profiles', 'bad.yaml'), 'kernel: k\nconfigs: { x: missing.cfg }\n');
      expect(await start({ HOMEPORT_BOOT__TEMPLATESDIR: templates })).to.match(
        /^boot profile bad \(.*bad\.yaml\): template missing\.cfg: cannot read it under .* \(ENOENT\)$/,
      );
    } finally {
      fs.rmSync(templates, { recursive: true, force: true });
    }
  });

  it('homeport config check prints the boot error on one line, exit 2', () => {
    const result = runHomeport(['config', 'check'], env({ HOMEPORT_BOOT__UNKNOWN: 'maybe' }));
    expect(result.status).to.equal(2);
    expect(result.stderr.trim().split('\n')).to.have.length(1);
    expect(result.stderr).to.match(/boot\.unknown: must be one of discover, default, deny/);
  });
});
