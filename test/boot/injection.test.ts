import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { bootScript, HOSTILE, insertNodeDirectly, rawGet, writeTemplates } from './helpers.js';

/**
 * Hostile values reach the templates through node rows written straight to
 * the database (past the API's validation) and through the query string and
 * Host header. Whatever they hold, the output either reads them back
 * verbatim in its own language or is refused; nothing runs.
 */
describe('HTTP boot: injection through node records, query and Host fails safely', function () {
  this.timeout(60_000);
  let hp: TestHomeport;
  let templates: string;
  before(async () => {
    templates = writeTemplates(
      fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-probe-')),
      {
        probe: [
          'kernel: probe/vmlinuz',
          'args: "hostname={{node.hostname}} rack={{lookup node.labels \\"rack\\"}} cluster={{node.cluster}}"',
          'configs: { run.sh: probe/run.sh, answer.toml: probe/answer.toml, data.yaml: probe/data.yaml, preseed.cfg: probe/preseed.cfg }',
        ].join('\n'),
      },
      {
        'probe/run.sh': `H={{node.hostname}}\nL={{lookup node.labels "rack"}}\nC={{node.cluster}}\nprintf '%s|%s|%s' "$H" "$L" "$C"\n`,
        'probe/answer.toml': 'fqdn = "{{node.hostname}}"\n',
        'probe/data.yaml': 'hostname: "{{node.hostname}}"\nrack: "{{lookup node.labels "rack"}}"\n',
        'probe/preseed.cfg': 'd-i netcfg/get_hostname string {{node.hostname}}\n',
      },
    );
    hp = await startTestHomeport({ env: { HOMEPORT_BOOT__TEMPLATESDIR: templates } });
  });
  after(async () => {
    await hp?.stop();
    fs.rmSync(templates, { recursive: true, force: true });
  });

  HOSTILE.forEach((value, i) => {
    const mac = `52:54:00:c0:00:${i.toString(16).padStart(2, '0')}`;
    it(`renders ${JSON.stringify(value)} safely in every language`, async () => {
      await insertNodeDirectly(hp, mac, { hostname: value, cluster: value, labels: { rack: value }, profile: 'probe' });

      const script = await bootScript(hp, mac);
      expect(script.kind, 'iPXE has no quoting: refused').to.equal('error');
      expect(script.text).to.match(/^#!ipxe\n# homeport: error\necho [^\n$;|#{}`"\\]*\nexit 1\n$/);
      expect(script.text).to.contain('node.hostname cannot be rendered into ipxe');

      const sh = await fetch(`${hp.baseUrl}/config/${mac}/run.sh`);
      expect(execFileSync('sh', ['-c', await sh.text()], { encoding: 'utf8' }), 'sh reads it back verbatim').to.equal(
        `${value}|${value}|${value}`,
      );

      const toml = await (await fetch(`${hp.baseUrl}/config/${mac}/answer.toml`)).text();
      expect(toml.split('\n'), 'one TOML line').to.have.length(2);
      expect(JSON.parse(/^fqdn = (".*")$/m.exec(toml)![1]!)).to.equal(value);

      const yaml = await (await fetch(`${hp.baseUrl}/config/${mac}/data.yaml`)).text();
      expect(YAML.parse(yaml)).to.deep.equal({ hostname: value, rack: value });

      const preseed = await hp.request('GET', `/config/${mac}/preseed.cfg`);
      if (/[\u0000-\u001f\u007f\u2028\u2029]/.test(value)) {
        expect(preseed.status).to.equal(422);
        expect(preseed.body).to.deep.equal({
          error: 'unsafe_value',
          detail:
            'refusing to render: node.hostname cannot be rendered into line: holds a newline or another control character',
        });
      } else {
        expect(preseed.text).to.equal(`d-i netcfg/get_hostname string ${value}\n`);
      }
    });
  });

  it('refuses hostile query values and stores none of them', async () => {
    const mac = '52:54:00:c0:01:01';
    await insertNodeDirectly(hp, mac, { hostname: 'ok1', profile: 'probe' });
    for (const query of [
      'uuid=${uuid}',
      'uuid=x;reboot',
      'arch=x86_64;reboot',
      'arch=a%0Achain%20http://evil',
      'platform=efi%20||%20shell',
      'arch=%24%7Bx%7D',
      'arch=x&arch=y',
    ]) {
      const script = await bootScript(hp, mac, query);
      expect(script.kind, query).to.equal('error');
      expect(script.text, query).not.to.match(/reboot|chain|shell|\$\{/);
    }
    const node = await hp.request('GET', `/api/nodes/${mac}`, { admin: true });
    expect(node.body).to.include({ uuid: null, arch: null });
    const ok = await bootScript(hp, mac);
    expect(ok.kind).to.equal('install');
    expect(ok.text).to.contain('hostname=ok1 rack= cluster=');
  });

  it('does not put a hostile MAC in the path or Host header into a script', async () => {
    const byPath = await rawGet(hp.baseUrl, '/boot/%24%7Bnet0%2Fmac%7D%0Achain.ipxe');
    expect(byPath.headers['x-homeport-boot']).to.equal('error');
    expect(byPath.body.toString()).not.to.match(/\$\{|chain/);
    const port = new URL(hp.baseUrl).port;
    for (const host of ['evil${x}', 'evil host', 'a;b:80', 'x\tchain']) {
      const entry = await rawGet(hp.baseUrl, '/boot.ipxe', { host });
      expect(entry.status, host).to.equal(200);
      expect(entry.body.toString(), host).to.contain(`chain --autofree http://127.0.0.1:${port}/boot/`);
      expect(entry.body.toString(), host).not.to.contain('evil');
    }
  });
});
