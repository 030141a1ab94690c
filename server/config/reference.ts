/**
 * The configuration reference (docs/configuration.md), generated from the
 * zod config schema: keys, types, defaults and descriptions (`.describe()`)
 * come from the schema that validates the config, so the reference cannot
 * drift. scripts/gen-config-reference.ts writes it; a test compares.
 */
import YAML from 'yaml';
import { z } from 'zod';
import { HOMEPORT_ROOT } from '../util/root.js';
import { KEY_DESCRIPTIONS } from './descriptions.js';
import { configSchema } from './schema.js';

export interface ConfigKey {
  /** Dotted path; `<name>` stands for a map key, `[]` for an array element. */
  path: string;
  type: string;
  default: unknown;
  description: string;
  /** HOMEPORT_SECTION__KEY, or null below a map or an array (set the whole value as JSON there). */
  env: string | null;
}

interface Unwrapped {
  schema: z.ZodTypeAny;
  description: string | undefined;
  default: unknown;
  optional: boolean;
}

/** Through defaults, optionals, nullables and refinements to the schema that has the shape. */
function unwrap(schema: z.ZodTypeAny): Unwrapped {
  let inner = schema;
  let description = schema.description;
  let fallback: unknown = undefined;
  let optional = false;
  for (let depth = 0; depth < 16; depth++) {
    description ??= inner.description;
    if (inner instanceof z.ZodDefault) {
      fallback = inner._def.defaultValue();
      inner = inner._def.innerType;
    } else if (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable) {
      optional = true;
      inner = inner._def.innerType;
    } else if (inner instanceof z.ZodEffects) {
      inner = inner._def.schema;
    } else break;
  }
  return { schema: inner, description: description ?? inner.description, default: fallback, optional };
}

function numberType(schema: z.ZodNumber): string {
  const checks = schema._def.checks;
  const isInt = checks.some((c) => c.kind === 'int');
  const min = checks.find((c) => c.kind === 'min');
  const max = checks.find((c) => c.kind === 'max');
  const range = min && max && 'value' in min && 'value' in max ? ` ${min.value}-${max.value}` : '';
  return `${isInt ? 'integer' : 'number'}${range}`;
}

function typeOf(schema: z.ZodTypeAny): string {
  const { schema: s } = unwrap(schema);
  if (s instanceof z.ZodString) return 'string';
  if (s instanceof z.ZodNumber) return numberType(s);
  if (s instanceof z.ZodBoolean) return 'boolean';
  if (s instanceof z.ZodEnum) return (s.options as string[]).map((o) => `\`${o}\``).join(' | ');
  if (s instanceof z.ZodLiteral) return `\`${String(s.value)}\``;
  if (s instanceof z.ZodArray) return `list of ${typeOf(s.element)}`;
  if (s instanceof z.ZodRecord) return `map of ${typeOf(s.valueSchema)}`;
  if (s instanceof z.ZodObject) return 'section';
  return 'value';
}

const envName = (segments: string[]) => `HOMEPORT_${segments.map((k) => k.toUpperCase()).join('__')}`;

/** Every key of the schema, sections before their keys, in schema order. */
export function configKeys(schema: z.ZodTypeAny = configSchema, path: string[] = [], envOk = true): ConfigKey[] {
  const { schema: inner } = unwrap(schema);
  const keys: ConfigKey[] = [];
  const child = (segment: string, value: z.ZodTypeAny, childEnvOk: boolean) => {
    const u = unwrap(value);
    const childPath = [...path, segment];
    const keyPath = childPath.join('.');
    keys.push({
      path: keyPath,
      type: typeOf(value),
      default: u.default,
      description: u.description ?? KEY_DESCRIPTIONS[keyPath] ?? '',
      env: childEnvOk ? envName(childPath) : null,
    });
    keys.push(...configKeys(value, childPath, childEnvOk));
  };
  if (inner instanceof z.ZodObject) {
    for (const [key, value] of Object.entries(inner.shape as Record<string, z.ZodTypeAny>)) child(key, value, envOk);
  } else if (inner instanceof z.ZodRecord && unwrap(inner.valueSchema).schema instanceof z.ZodObject) {
    keys.push(...configKeys(inner.valueSchema, [...path, '<name>'], false));
  } else if (inner instanceof z.ZodArray && unwrap(inner.element).schema instanceof z.ZodObject) {
    keys.push(...configKeys(inner.element, [...path, '[]'], false));
  }
  return keys;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Defaults that are paths inside the checkout are shown relative to it (they differ per machine). */
const shown = (value: unknown) => `\`${JSON.stringify(value).replaceAll(HOMEPORT_ROOT, '<homeport>')}\``;

function defaultCell(key: ConfigKey): string {
  if (key.type === 'section') return '';
  return key.default === undefined ? '(unset)' : shown(key.default);
}

/** Values of the worked examples by dotted path, the first one seen. */
function exampleValues(): Map<string, unknown> {
  const values = new Map<string, unknown>();
  const walk = (value: unknown, at: string[]) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, [...at, k]);
    } else if (!values.has(at.join('.'))) values.set(at.join('.'), value);
  };
  for (const example of WORKED_EXAMPLES) walk(YAML.parse(example.yaml), []);
  return values;
}

function exampleCell(key: ConfigKey, examples: Map<string, unknown>): string {
  if (key.type === 'section') return '';
  const value = examples.has(key.path) ? examples.get(key.path) : key.default;
  return value === undefined ? '' : shown(value);
}

/** The reference tables, one per top-level section. */
export function renderConfigReference(): string {
  const keys = configKeys();
  const examples = exampleValues();
  const sections = keys.filter((k) => !k.path.includes('.'));
  const out: string[] = [];
  for (const section of sections) {
    out.push(`### \`${section.path}\``, '');
    if (section.description) out.push(section.description, '');
    const rows = keys.filter((k) => k.path.startsWith(`${section.path}.`) || (k === section && k.type !== 'section'));
    out.push('| key | type | default | example | environment | description |', '| --- | --- | --- | --- | --- | --- |');
    for (const key of rows)
      out.push(
        `| \`${key.path}\` | ${cell(key.type)} | ${cell(defaultCell(key))} | ${cell(exampleCell(key, examples))} | ${key.env ? `\`${key.env}\`` : 'in the JSON of its map/list'} | ${cell(key.description)} |`,
      );
    out.push('');
  }
  return out.join('\n');
}

export interface WorkedExample {
  title: string;
  text: string;
  /** A complete homeport.yaml; the test validates it with the config schema. */
  yaml: string;
}

export const WORKED_EXAMPLES: WorkedExample[] = [
  {
    title: 'proxyDHCP beside an existing router',
    text: 'Your router keeps handing out addresses; homeport only answers the PXE part (boot server and boot file) on port 67 and 4011, and serves iPXE by TFTP to firmware that is not iPXE yet. Nothing on the router changes.',
    yaml: `dhcp:
  mode: proxy
  interface: eth0          # the LAN the machines boot on
  serverIp: 192.168.1.10   # homeport's address on it
tftp:
  enabled: true
http:
  port: 8080
`,
  },
  {
    title: 'full DHCP on an isolated provisioning network',
    text: 'A network of its own (a switch or VLAN with no other DHCP server): homeport leases the addresses, and every machine that PXE-boots gets iPXE, then its script.',
    yaml: `dhcp:
  mode: full
  interface: eth1
  serverIp: 10.77.0.1
  pool:
    start: 10.77.0.100
    end: 10.77.0.199
    subnetMask: 255.255.255.0
    router: 10.77.0.1
    dns: [10.77.0.1]
    domain: prov.lan
    leaseSeconds: 3600
tftp:
  enabled: true
boot:
  defaultProfile: debian
  unknown: discover
`,
  },
  {
    title: 'behind a DHCP relay (giaddr)',
    text: "The machines are on another subnet, and its router relays DHCP to homeport (ip helper-address / dhcrelay pointing at serverIp). homeport answers a relayed request only when the relay's address (giaddr) is inside the pool's subnet, and sends the answer back to the relay; so the pool describes the machines' subnet, with its own router. `http.publicUrl` is the address the machines reach homeport at, through the router.",
    yaml: `dhcp:
  mode: full
  interface: eth0          # where the relayed requests arrive
  serverIp: 10.0.0.5
  pool:
    start: 10.20.30.100    # the machines' subnet, not homeport's
    end: 10.20.30.200
    subnetMask: 255.255.255.0
    router: 10.20.30.1     # the relay
tftp:
  enabled: true
http:
  publicUrl: http://10.0.0.5:8080
`,
  },
  {
    title: 'HTTP only, with UEFI HTTP boot',
    text: 'UEFI firmware that boots over HTTP (vendor class HTTPClient, architecture 16 or 19) is given the URL of an iPXE EFI binary under /ipxe/, so no TFTP is needed; iPXE then fetches /boot.ipxe. BIOS machines and PXE-only firmware need TFTP, so use this only for a UEFI HTTP-boot fleet. The boot files per architecture may be changed in `dhcp.bootFiles`.',
    yaml: `dhcp:
  mode: proxy
  interface: eth0
  serverIp: 192.168.1.10
  bootFiles:
    "16": snponly.efi      # x86-64 UEFI HTTP boot
    "19": ipxe-arm64.efi   # arm64 UEFI HTTP boot
tftp:
  enabled: false
http:
  publicUrl: http://192.168.1.10:8080
boot:
  ipxeDir: /usr/lib/ipxe
`,
  },
];

/** docs/configuration.md, whole. */
export function renderConfigurationDoc(): string {
  const examples = WORKED_EXAMPLES.map((e) =>
    [`### ${e.title}`, '', e.text, '', '```yaml', e.yaml.trimEnd(), '```', ''].join('\n'),
  ).join('\n');
  return [
    '# Configuration reference',
    '',
    '<!-- Generated by scripts/gen-config-reference.ts from server/config/schema.ts; do not edit by hand (test/config/reference.test.ts fails when it is out of date). -->',
    '',
    'homeport reads `homeport.yaml` from the working directory, or the file named by `-c FILE` or `$HOMEPORT_CONFIG`. Every key has a default, so an empty file (or none) is a valid config: SQLite under `./data`, HTTP on 8080, DHCP and TFTP off.',
    '',
    'Any key can be set from the environment: `HOMEPORT_<SECTION>__<KEY>=value` (segments separated by two underscores, matched case-insensitively), e.g. `HOMEPORT_HTTP__PORT=9090` or `HOMEPORT_DHCP__MODE=proxy`. Values are read as JSON when they parse (numbers, booleans, lists, objects), else as text; a map or list (`clusters`, `webhooks`, `boot.profiles`, ...) is set whole as JSON, e.g. `HOMEPORT_CLUSTERS=\'{"lab":{"driver":"proxmox"}}\'`. `DATABASE_URL` sets `database.url`. A top-level key is `HOMEPORT_<KEY>` (`HOMEPORT_DATADIR`). Any other `HOMEPORT_` variable without `__` is not configuration: the CLI reads `HOMEPORT_URL` and `HOMEPORT_ADMIN_TOKEN`, the shell clients `HOMEPORT_TOKEN`, `HOMEPORT_MAC` and the rest of their list in the README. A wrong override is reported with the variable\'s name, e.g. `environment HOMEPORT_HTTP__PROT: unknown key http.prot (did you mean http.port?)`.',
    '',
    '`homeport config check` validates a config and prints the first problem on one line.',
    '',
    '## Worked examples',
    '',
    examples,
    '## Keys',
    '',
    'In the tables, `<name>` stands for a key of a map (a cluster name, a profile name) and `[]` for an element of a list.',
    '',
    renderConfigReference(),
  ].join('\n');
}
