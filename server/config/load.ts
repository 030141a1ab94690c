import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z, type ZodIssue } from 'zod';
import { configSchema, type Config } from './schema';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Config;
  /** The file read, or null when running on defaults. */
  file: string | null;
}

export const DEFAULT_CONFIG_FILE = 'homeport.yaml';

/**
 * Reads the config file (YAML or JSON; YAML is a superset), applies
 * environment overrides, validates. Throws ConfigError with one line naming
 * the key and what is allowed.
 */
export function loadConfig(filePath: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = filePath ?? env.HOMEPORT_CONFIG ?? (fs.existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : null);
  const raw = file ? readConfigFile(file) : {};
  const merged = applyEnvOverrides(raw, env);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(describeIssue(parsed.error.issues[0]!, file));
  return { config: resolvePaths(parsed.data), file };
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`config file ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let value: unknown;
  try {
    value = YAML.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file}: not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`config file ${file}: must be a mapping of keys`);
  return value as Record<string, unknown>;
}

/**
 * HOMEPORT_<SECTION>__<KEY>=value overrides a key, e.g. HOMEPORT_HTTP__PORT=9090,
 * HOMEPORT_DHCP__MODE=proxy. Segments match keys case-insensitively; values are
 * parsed as JSON when they parse (numbers, booleans, arrays), else taken as text.
 * DATABASE_URL sets database.url.
 */
export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const result = structuredClone(raw);
  if (env.DATABASE_URL) setPath(result, ['database', 'url'], env.DATABASE_URL);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('HOMEPORT_') || name === 'HOMEPORT_CONFIG' || value === undefined) continue;
    const segments = name.slice('HOMEPORT_'.length).split('__');
    setPath(result, resolveKeyPath(segments), parseEnvValue(value));
  }
  return result;
}

/** Maps upper-case env segments to the schema's camelCase keys. */
function resolveKeyPath(segments: string[]): string[] {
  const keys: string[] = [];
  let shape: z.ZodTypeAny | undefined = configSchema;
  for (const segment of segments) {
    const objectShape: Record<string, z.ZodTypeAny> | undefined = shape ? objectShapeOf(shape) : undefined;
    const key: string | undefined = objectShape ? Object.keys(objectShape).find((k) => k.toLowerCase() === segment.toLowerCase()) : undefined;
    keys.push(key ?? segment.toLowerCase());
    shape = key && objectShape ? objectShape[key] : undefined;
  }
  return keys;
}

function objectShapeOf(schema: z.ZodTypeAny): Record<string, z.ZodTypeAny> | undefined {
  let inner: z.ZodTypeAny = schema;
  // Through .default(), .optional() and refinements (dhcp's superRefine): HOMEPORT_DHCP__SERVERIP must reach serverIp.
  for (;;) {
    if (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner._def.innerType;
    else if (inner instanceof z.ZodEffects) inner = inner._def.schema;
    else break;
  }
  return inner instanceof z.ZodObject ? (inner.shape as Record<string, z.ZodTypeAny>) : undefined;
}

function parseEnvValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const child = node[key];
    if (typeof child !== 'object' || child === null || Array.isArray(child)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

/** One line naming the key and the rule; also used for files the config points to (boot profiles). */
export function describeIssue(issue: ZodIssue, file: string | null): string {
  const key = issue.path.join('.') || '(root)';
  const where = file ? `config file ${file}` : 'config';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length ? `${key}.` : '';
    return `${where}: unknown key ${issue.keys.map((k) => prefix + k).join(', ')}`;
  }
  return `${where}: ${key}: ${describeAllowed(issue)}`;
}

function describeAllowed(issue: ZodIssue): string {
  switch (issue.code) {
    case 'invalid_enum_value':
      return `must be one of ${issue.options.join(', ')} (got ${JSON.stringify(issue.received)})`;
    case 'invalid_type':
      return `must be ${issue.expected} (got ${issue.received})`;
    case 'too_small':
      return `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    default:
      return issue.message;
  }
}

/** Relative file paths in the config are relative to dataDir. */
function resolvePaths(config: Config): Config {
  const underData = (p: string) => (path.isAbsolute(p) ? p : path.join(config.dataDir, p));
  return {
    ...config,
    database: { ...config.database, sqlitePath: underData(config.database.sqlitePath) },
    auth: { ...config.auth, adminTokenFile: underData(config.auth.adminTokenFile), secretFile: underData(config.auth.secretFile) },
    boot: { ...config.boot, assetsDir: underData(config.boot.assetsDir) },
    ssh: {
      ...config.ssh,
      keyFile: underData(config.ssh.keyFile),
      keyPassphraseFile: config.ssh.keyPassphraseFile === undefined ? undefined : underData(config.ssh.keyPassphraseFile),
      knownHostsFile: underData(config.ssh.knownHostsFile),
    },
    reprovision: { ...config.reprovision, redfish: { ...config.reprovision.redfish, passwordFile: underData(config.reprovision.redfish.passwordFile) } },
  };
}
