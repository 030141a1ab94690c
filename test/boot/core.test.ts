import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import YAML from 'yaml';
import { decideBoot, type BootPolicy, type KnownNode } from '../../server/boot/decide.js';
import { escapeFor, languageOfFile, UnsafeValueError } from '../../server/boot/escape.js';
import { entryScript, installScript, localBootScript } from '../../server/boot/ipxe.js';
import { chooseProfile, groupSchema, type MachineFacts } from '../../server/boot/profiles.js';
import { compileTemplate, TemplateError } from '../../server/boot/templates.js';
import { etagOf, isNotModified, parseRange, rangeStillValid } from '../../server/boot/ranges.js';
import { HOSTILE } from './helpers.js';

describe('boot core: escaping per target language', () => {
  it('refuses in iPXE every value that is not one harmless token', () => {
    for (const value of HOSTILE)
      expect(() => escapeFor('ipxe', value, 'node.hostname'), value).to.throw(
        UnsafeValueError,
        /node\.hostname cannot be rendered into ipxe/,
      );
    for (const value of [
      'pve1',
      'http://10.0.0.1:8080/config/52-54-00-aa-00-01/preseed',
      '52:54:00:aa:00:01',
      'x86_64',
      'a=b,c',
      '',
      'tok_-en',
    ]) {
      expect(escapeFor('ipxe', value, 'v')).to.equal(value);
    }
  });

  it('single-quotes for sh so the shell reads every value back verbatim', () => {
    for (const value of HOSTILE) {
      const script = `v=${escapeFor('sh', value, 'v')}; printf '%s' "$v"`;
      expect(execFileSync('sh', ['-c', script], { encoding: 'utf8' }), JSON.stringify(value)).to.equal(value);
    }
  });

  it('escapes string content for TOML/YAML/JSON so a quote or newline cannot end the string', () => {
    for (const value of HOSTILE) {
      const escaped = escapeFor('json', value, 'v');
      // No raw control character; and the quoted string parses back to the value, so no quote ended it.
      expect(escaped).not.to.match(/[\n\r\u007f\u2028]/);
      expect(JSON.parse(`"${escaped}"`)).to.equal(value);
      expect(YAML.parse(`v: "${escaped}"`)).to.deep.equal({ v: value });
    }
  });

  it('refuses control characters in one-line configs and encodes URL values', () => {
    for (const value of ['a\nb', 'a\rb', 'del\u007f', 'ls\u2028x'])
      expect(() => escapeFor('line', value, 'v')).to.throw(UnsafeValueError, /control character/);
    expect(escapeFor('line', 'a;b $x "q"', 'v')).to.equal('a;b $x "q"');
    expect(escapeFor('url', `a b/'c'(d)*!`, 'v')).to.equal('a%20b%2F%27c%27%28d%29%2A%21');
    expect(() => escapeFor('sh', { a: 1 }, 'node.labels')).to.throw(UnsafeValueError, /is an object/);
  });

  it('picks the default language from the template file name', () => {
    expect(
      ['x.ipxe', 'a/b.sh', 'answer.toml', 'user-data.yaml', 'meta.json', 'preseed.cfg', 'ks', 'x.sh.hbs'].map(
        languageOfFile,
      ),
    ).to.deep.equal(['ipxe', 'sh', 'json', 'json', 'json', 'line', 'line', 'sh']);
  });
});

describe('boot core: templates escape every output', () => {
  const node = { hostname: 'a b\nreboot', labels: { rack: `r'1` } };

  it('escapes {{x}}, helper output and each-loop values for the template language', () => {
    const template = compileTemplate(
      't.sh',
      'H={{node.hostname}}\nR={{lookup node.labels "rack"}}\n{{#each node.labels}}{{@key}}={{this}}\n{{/each}}U={{url node.hostname}}',
      'sh',
    );
    const out = template.render({ node });
    expect(out).to.equal(`H='a b\nreboot'\nR='r'\\''1'\n'rack'='r'\\''1'\nU=a%20b%0Areboot`);
  });

  it('names the field and template when a value is refused', () => {
    const template = compileTemplate('boot.ipxe', 'kernel x host={{node.hostname}}', 'ipxe');
    expect(() => template.render({ node })).to.throw(UnsafeValueError, /^node\.hostname cannot be rendered into ipxe/);
  });

  it('refuses {{{raw}}}, partials and misspelt fields', () => {
    expect(() => compileTemplate('t', 'a\n{{{x}}}', 'sh')).to.throw(
      TemplateError,
      /template t line 2: \{\{\{\.\.\.\}\}\} is not allowed/,
    );
    expect(() => compileTemplate('t', '{{> other}}', 'sh')).to.throw(
      TemplateError,
      /PartialStatement is not supported/,
    );
    expect(() => compileTemplate('t', '{{node.hostnme}}', 'sh').render({ node })).to.throw(
      TemplateError,
      /"hostnme" not defined/,
    );
    expect(compileTemplate('t', '{{raw node.hostname}}', 'sh').render({ node })).to.equal(node.hostname);
  });
});

describe('boot core: profile choice and boot decision', () => {
  const group = (profile: string, match: unknown) => groupSchema.parse({ profile, match });
  const groups = [
    group('by-mac', { mac: ['52-54-00-00-00-01'] }),
    group('by-uuid', { uuid: 'A0B1C2D3-0000-4000-8000-000000000001' }),
    group('by-labels', { labels: { rack: 'r1', role: 'storage' } }),
    group('by-cluster', { cluster: 'lab' }),
    group('by-arch', { arch: ['arm64'] }),
  ];
  const machine = (over: Partial<MachineFacts>): MachineFacts => ({
    mac: '52:54:00:00:00:99',
    uuid: null,
    arch: 'x86_64',
    cluster: null,
    labels: {},
    profile: null,
    ...over,
  });

  it('matches each selector kind, first match wins, node profile beats groups, default last', () => {
    const cases: [Partial<MachineFacts>, string | null][] = [
      [{ mac: '52:54:00:00:00:01' }, 'by-mac'],
      [{ uuid: 'a0b1c2d3-0000-4000-8000-000000000001' }, 'by-uuid'],
      [{ labels: { rack: 'r1', role: 'storage', extra: 'x' } }, 'by-labels'],
      [{ labels: { rack: 'r1' } }, 'fallback'],
      [{ cluster: 'lab' }, 'by-cluster'],
      [{ arch: 'arm64' }, 'by-arch'],
      [{ mac: '52:54:00:00:00:01', cluster: 'lab' }, 'by-mac'],
      [{ profile: 'own', mac: '52:54:00:00:00:01' }, 'own'],
      [{}, 'fallback'],
    ];
    for (const [over, expected] of cases)
      expect(chooseProfile(machine(over), groups, 'fallback')?.name, JSON.stringify(over)).to.equal(expected);
    expect(chooseProfile(machine({}), groups, undefined)).to.equal(null);
  });

  it('decides install, local disk, wait, deny, discover and error', () => {
    const policy = (over: Partial<BootPolicy>): BootPolicy => ({
      unknown: 'discover',
      groups: [],
      defaultProfile: undefined,
      profiles: new Set(['debian']),
      ...over,
    });
    const known = (over: Partial<KnownNode>): KnownNode => ({ ...machine({}), netbootEnabled: true, ...over });
    expect(decideBoot(policy({}), null, machine({}))).to.deep.equal({ kind: 'discover' });
    expect(decideBoot(policy({ unknown: 'deny' }), null, machine({}))).to.deep.equal({ kind: 'deny' });
    expect(decideBoot(policy({ unknown: 'default', defaultProfile: 'debian' }), null, machine({}))).to.deep.equal({
      kind: 'install',
      profile: 'debian',
      via: 'default',
    });
    expect(decideBoot(policy({ unknown: 'default' }), null, machine({})).kind).to.equal('wait');
    expect(decideBoot(policy({}), known({ profile: 'debian' }), machine({}))).to.deep.equal({
      kind: 'install',
      profile: 'debian',
      via: 'node',
    });
    expect(decideBoot(policy({}), known({ profile: 'debian', netbootEnabled: false }), machine({}))).to.deep.equal({
      kind: 'local',
    });
    expect(decideBoot(policy({}), known({ profile: 'gone' }), machine({}))).to.deep.include({ kind: 'error' });
  });
});

describe('boot core: iPXE scripts', () => {
  it('chains from the entry script to the per-MAC script with the iPXE settings, and retries', () => {
    const script = entryScript({ baseUrl: 'http://10.0.0.1:8080', retrySeconds: 7 });
    expect(script).to.match(/^#!ipxe\n/);
    expect(script).to.contain(
      'chain --autofree http://10.0.0.1:8080/boot/${net0/mac:hexhyp}.ipxe?uuid=${uuid}&arch=${buildarch}&platform=${platform} || goto homeport_failed',
    );
    expect(script).to.contain('sleep 7 || shell\ngoto homeport_retry');
    expect(() => entryScript({ baseUrl: 'http://evil host', retrySeconds: 1 })).to.throw(UnsafeValueError);
  });

  it('names every initrd on the kernel line (EFI needs initrd=NAME)', () => {
    const script = installScript({
      mac: '52:54:00:aa:00:01',
      profile: 'debian',
      kernel: { url: 'http://s/assets/linux', name: 'linux' },
      initrds: [
        { url: 'http://s/assets/initrd.gz', name: 'initrd.gz' },
        { url: 'http://s/assets/fw.cpio', name: 'fw.cpio' },
      ],
      args: 'auto=true',
    });
    expect(script).to.contain(
      'kernel --name linux http://s/assets/linux initrd=initrd.gz initrd=fw.cpio auto=true || goto homeport_failed\ninitrd --name initrd.gz http://s/assets/initrd.gz || goto homeport_failed\ninitrd --name fw.cpio',
    );
    expect(script).to.match(/boot \|\| goto homeport_failed\n:homeport_failed\n.*\nexit 1\n$/);
  });

  it('boots the local disk with exit or sanboot, per firmware', () => {
    const both = localBootScript({ mac: '52:54:00:aa:00:01', pcbios: 'sanboot', efi: 'exit', sanbootDrive: '0x80' });
    expect(both).to.contain(
      'iseq ${platform} efi && goto homeport_efi || goto homeport_pcbios\n:homeport_pcbios\nsanboot --no-describe --drive 0x80 || exit 0\nexit 0\n:homeport_efi\nexit 0',
    );
  });
});

describe('boot core: Range and conditional requests', () => {
  it('parses single ranges and ignores what it does not serve', () => {
    const cases: [string | undefined, unknown][] = [
      [undefined, { kind: 'full' }],
      ['bytes=0-99', { kind: 'partial', start: 0, end: 99 }],
      ['bytes=900-', { kind: 'partial', start: 900, end: 999 }],
      ['bytes=-100', { kind: 'partial', start: 900, end: 999 }],
      ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }],
      ['bytes=990-5000', { kind: 'partial', start: 990, end: 999 }],
      ['bytes=1000-', { kind: 'unsatisfiable' }],
      ['bytes=-0', { kind: 'unsatisfiable' }],
      ['bytes=5-1', { kind: 'full' }],
      ['bytes=0-1,5-6', { kind: 'full' }],
      ['items=0-1', { kind: 'full' }],
      ['bytes=abc', { kind: 'full' }],
    ];
    for (const [header, expected] of cases) expect(parseRange(header, 1000), String(header)).to.deep.equal(expected);
  });

  it('answers 304 by ETag first, then by date; If-Range needs the current validator', () => {
    const v = { etag: etagOf(1000, 1_700_000_000_500), mtimeMs: 1_700_000_000_500 };
    const date = new Date(1_700_000_000_000).toUTCString();
    expect(isNotModified({ ifNoneMatch: `"x", ${v.etag}` }, v)).to.equal(true);
    expect(isNotModified({ ifNoneMatch: `W/${v.etag}` }, v)).to.equal(true);
    expect(isNotModified({ ifNoneMatch: '"other"', ifModifiedSince: date }, v)).to.equal(false);
    expect(isNotModified({ ifModifiedSince: date }, v)).to.equal(true);
    expect(isNotModified({ ifModifiedSince: new Date(1_600_000_000_000).toUTCString() }, v)).to.equal(false);
    expect(rangeStillValid(v.etag, v)).to.equal(true);
    expect(rangeStillValid('"stale"', v)).to.equal(false);
    expect(rangeStillValid(date, v)).to.equal(true);
  });
});
