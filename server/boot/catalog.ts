import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError, describeIssue } from '../kernel/config-error.js';
import type { BootConfig } from './config.js';
import { languageOfFile } from './escape.js';
import { imageName } from './context.js';
import { profileSchema, type Group, type Profile } from './profiles.js';
import { compileTemplate, TemplateError, type CompiledTemplate } from './templates.js';

/**
 * The profiles and their compiled templates, loaded once at start: files
 * under TEMPLATES/profiles/NAME.yaml, then profiles from the config (which
 * replace a file profile of the same name). Every mistake (a bad key, a
 * missing template, a template that does not parse, a group naming no
 * profile) stops the start with one line naming the file and key.
 */
export interface LoadedProfile {
  name: string;
  profile: Profile;
  /** Where it came from, for messages: a file path or `config boot.profiles.NAME`. */
  source: string;
  args: CompiledTemplate;
  ipxe: CompiledTemplate | null;
  configs: ReadonlyMap<string, CompiledTemplate>;
}

export type BootCatalog = ReadonlyMap<string, LoadedProfile>;

export interface CatalogInput {
  templatesDir: string;
  configProfiles: Record<string, Profile>;
  groups: readonly Group[];
  defaultProfile: string | undefined;
}

const PROFILE_FILE = /^([a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?)\.ya?ml$/i;

export function loadCatalog(input: CatalogInput): BootCatalog {
  const templates = new TemplateCache(input.templatesDir);
  const catalog = new Map<string, LoadedProfile>();
  for (const [name, profile, source] of [
    ...profileFiles(input.templatesDir),
    ...configProfiles(input.configProfiles),
  ]) {
    catalog.set(name, compileProfile(name, profile, source, templates));
  }
  checkReferences(input, catalog);
  return catalog;
}

function profileFiles(templatesDir: string): [string, Profile, string][] {
  const dir = path.join(templatesDir, 'profiles');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .sort()
    .flatMap((file) => {
      const match = PROFILE_FILE.exec(file);
      if (!match) return [];
      const source = path.join(dir, file);
      return [[match[1]!, parseProfileFile(source), source] as [string, Profile, string]];
    });
}

function parseProfileFile(file: string): Profile {
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`boot profile ${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = profileSchema.safeParse(raw ?? {});
  if (!parsed.success)
    throw new ConfigError(describeIssue(parsed.error.issues[0]!, file).replace(/^config file /, 'boot profile '));
  return parsed.data;
}

function configProfiles(profiles: Record<string, Profile>): [string, Profile, string][] {
  return Object.entries(profiles).map(([name, profile]) => [name, profile, `config boot.profiles.${name}`]);
}

function compileProfile(name: string, profile: Profile, source: string, templates: TemplateCache): LoadedProfile {
  const where = `boot profile ${name} (${source})`;
  const names = [profile.kernel, ...profile.initrds].filter((ref): ref is string => ref !== undefined).map(imageName);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate)
    throw new ConfigError(
      `${where}: kernel and initrds need distinct file names (iPXE names images by them): ${duplicate} repeats`,
    );
  try {
    return {
      name,
      profile,
      source,
      args: compileTemplate(`${name} args`, profile.args, 'ipxe'),
      ipxe: profile.ipxe ? templates.get(profile.ipxe) : null,
      configs: new Map(Object.entries(profile.configs).map(([config, file]) => [config, templates.get(file)])),
    };
  } catch (err) {
    if (err instanceof TemplateError || err instanceof ConfigError) throw new ConfigError(`${where}: ${err.message}`);
    throw err;
  }
}

function checkReferences(input: CatalogInput, catalog: BootCatalog): void {
  const known = () => [...catalog.keys()].join(', ') || 'none';
  input.groups.forEach((group, i) => {
    if (!catalog.has(group.profile))
      throw new ConfigError(`config: boot.groups.${i}.profile: no profile ${group.profile} (known: ${known()})`);
  });
  if (input.defaultProfile && !catalog.has(input.defaultProfile)) {
    throw new ConfigError(`config: boot.defaultProfile: no profile ${input.defaultProfile} (known: ${known()})`);
  }
}

/** Templates by path, compiled once even when several profiles share one. */
class TemplateCache {
  private readonly compiled = new Map<string, CompiledTemplate>();

  constructor(private readonly dir: string) {}

  get(file: string): CompiledTemplate {
    let template = this.compiled.get(file);
    if (!template) {
      template = compileTemplate(file, this.read(file), languageOfFile(file));
      this.compiled.set(file, template);
    }
    return template;
  }

  private read(file: string): string {
    try {
      return fs.readFileSync(path.join(this.dir, file), 'utf8');
    } catch (err) {
      throw new ConfigError(
        `template ${file}: cannot read it under ${this.dir} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
  }
}

/** Loads and checks profiles and templates; throws ConfigError (one line) on any mistake. Call before opening anything. */
export function loadBootCatalog(boot: BootConfig): BootCatalog {
  return loadCatalog({
    templatesDir: boot.templatesDir,
    configProfiles: boot.profiles,
    groups: boot.groups,
    defaultProfile: boot.defaultProfile,
  });
}
