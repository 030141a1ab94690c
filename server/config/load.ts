import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z, type ZodIssue } from 'zod';
import { configSchema, type Config } from './schema.js';
import { ConfigError, describeIssueAt } from '../kernel/config-error.js';

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
  const overrides = envOverrides(env);
  const parsed = configSchema.safeParse(withOverrides(raw, overrides));
  if (!parsed.success) throw new ConfigError(describeConfigIssue(parsed.error.issues[0]!, file, overrides));
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
  if (typeof value !== 'object' || Array.isArray(value))
    throw new ConfigError(`config file ${file}: must be a mapping of keys`);
  return value as Record<string, unknown>;
}

/**
 * HOMEPORT_<SECTION>__<KEY>=value overrides a key, e.g. HOMEPORT_HTTP__PORT=9090,
 * HOMEPORT_DHCP__MODE=proxy; HOMEPORT_<KEY> overrides a top-level key (HOMEPORT_DATADIR).
 * Segments match keys case-insensitively; values are parsed as JSON when they
 * parse (numbers, booleans, arrays), else taken as text. DATABASE_URL sets database.url.
 * The CLI and the shell clients read their own HOMEPORT_ variables (HOMEPORT_ADMIN_TOKEN,
 * HOMEPORT_URL, HOMEPORT_TOKEN, HOMEPORT_MAC, ...): a variable without `__` that names
 * no top-level key is one of those, never a config override.
 */
export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  return withOverrides(raw, envOverrides(env));
}

function withOverrides(raw: Record<string, unknown>, overrides: EnvOverride[]): Record<string, unknown> {
  const result = structuredClone(raw);
  for (const override of overrides) setPath(result, override.keys, override.value);
  return result;
}

export interface EnvOverride {
  /** The variable, e.g. HOMEPORT_HTTP__PORT, to name it when its value is wrong. */
  variable: string;
  keys: string[];
  value: unknown;
}

export function envOverrides(env: NodeJS.ProcessEnv): EnvOverride[] {
  const overrides: EnvOverride[] = [];
  if (env.DATABASE_URL)
    overrides.push({ variable: 'DATABASE_URL', keys: ['database', 'url'], value: env.DATABASE_URL });
  for (const [variable, value] of Object.entries(env)) {
    const segments = overrideSegments(variable);
    if (segments && value !== undefined)
      overrides.push({ variable, keys: resolveKeyPath(segments), value: parseEnvValue(value) });
  }
  return overrides;
}

/** The key segments a variable overrides, or null when it is not a config override (a client's variable). */
export function overrideSegments(variable: string): string[] | null {
  if (!variable.startsWith(ENV_PREFIX) || variable === 'HOMEPORT_CONFIG') return null;
  const segments = variable.slice(ENV_PREFIX.length).split('__');
  if (segments.length > 1) return segments;
  const topLevel = Object.keys(configSchema.shape).some((key) => key.toLowerCase() === segments[0]!.toLowerCase());
  return topLevel ? segments : null;
}

const ENV_PREFIX = 'HOMEPORT_';

/** Maps upper-case env segments to the schema's camelCase keys. */
function resolveKeyPath(segments: string[]): string[] {
  const keys: string[] = [];
  let shape: z.ZodTypeAny | undefined = configSchema;
  for (const segment of segments) {
    const objectShape: Record<string, z.ZodTypeAny> | undefined = shape ? objectShapeOf(shape) : undefined;
    const key: string | undefined = objectShape
      ? Object.keys(objectShape).find((k) => k.toLowerCase() === segment.toLowerCase())
      : undefined;
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

/**
 * One line naming where the wrong value came from (the variable that set it, else the file),
 * the key and the rule; an unknown key gets the closest known one as a suggestion.
 */
function describeConfigIssue(issue: ZodIssue, file: string | null, overrides: EnvOverride[]): string {
  const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
  const override = overrides.find((o) => paths.some((p) => o.keys.every((key, i) => String(p[i]) === key)));
  const where = override ? `environment ${override.variable}` : file ? `config file ${file}` : 'config';
  const line = describeIssueAt(issue, where);
  if (issue.code !== 'unrecognized_keys') return line;
  const known = Object.keys(shapeAt(issue.path) ?? {});
  const suggestions = issue.keys.map((k) => closestKey(k, known)).filter((k): k is string => k !== undefined);
  const prefix = issue.path.length ? `${issue.path.join('.')}.` : '';
  return suggestions.length ? `${line} (did you mean ${suggestions.map((k) => prefix + k).join(', ')}?)` : line;
}

/** The object shape at a key path of the config schema, or undefined below a map, an array or a scalar. */
function shapeAt(keys: (string | number)[]): Record<string, z.ZodTypeAny> | undefined {
  let shape: Record<string, z.ZodTypeAny> | undefined = configSchema.shape;
  for (const key of keys) {
    const child: z.ZodTypeAny | undefined = shape?.[String(key)];
    shape = child ? objectShapeOf(child) : undefined;
  }
  return shape;
}

/** The known key a typo most likely meant: case-insensitive edit distance of at most 2 (and less than the key's length). */
export function closestKey(typo: string, known: string[]): string | undefined {
  const scored = known.map((key) => ({ key, distance: editDistance(typo.toLowerCase(), key.toLowerCase()) }));
  const best = scored.sort((a, b) => a.distance - b.distance)[0];
  return best && best.distance <= Math.min(2, typo.length - 1) ? best.key : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    previous = current;
  }
  return previous[b.length]!;
}

/** Relative file paths in the config are relative to dataDir. */
function resolvePaths(config: Config): Config {
  const underData = (p: string) => (path.isAbsolute(p) ? p : path.join(config.dataDir, p));
  return {
    ...config,
    database: { ...config.database, sqlitePath: underData(config.database.sqlitePath) },
    auth: {
      ...config.auth,
      adminTokenFile: underData(config.auth.adminTokenFile),
      secretFile: underData(config.auth.secretFile),
    },
    boot: { ...config.boot, assetsDir: underData(config.boot.assetsDir) },
    ssh: {
      ...config.ssh,
      keyFile: underData(config.ssh.keyFile),
      keyPassphraseFile:
        config.ssh.keyPassphraseFile === undefined ? undefined : underData(config.ssh.keyPassphraseFile),
      knownHostsFile: underData(config.ssh.knownHostsFile),
    },
    reprovision: {
      ...config.reprovision,
      redfish: { ...config.reprovision.redfish, passwordFile: underData(config.reprovision.redfish.passwordFile) },
    },
  };
}
