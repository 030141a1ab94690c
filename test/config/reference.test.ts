import fs from 'node:fs';
import { expect } from 'chai';
import YAML from 'yaml';
import { applyEnvOverrides } from '../../server/config/load.js';
import { KEY_DESCRIPTIONS } from '../../server/config/descriptions.js';
import { configKeys, renderConfigurationDoc, WORKED_EXAMPLES } from '../../server/config/reference.js';
import { configSchema } from '../../server/config/schema.js';
import { CONFIG_REFERENCE_FILE } from '../../scripts/gen-config-reference.js';

/** The value at a dotted path, or undefined. */
function at(value: unknown, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), value);
}

describe('configuration reference (docs/configuration.md)', () => {
  it('is up to date with the config schema', () => {
    const written = fs.existsSync(CONFIG_REFERENCE_FILE) ? fs.readFileSync(CONFIG_REFERENCE_FILE, 'utf8') : '';
    expect(
      written === renderConfigurationDoc(),
      'docs/configuration.md is out of date: run npx tsx scripts/gen-config-reference.ts',
    ).to.equal(true);
  });

  it('lists every key with the environment variable that really sets it', () => {
    const keys = configKeys();
    expect(keys.length).to.be.greaterThan(60);
    const doc = renderConfigurationDoc();
    for (const key of keys)
      expect(doc, key.path).to.contain(
        key.type === 'section' && !key.path.includes('.') ? `### \`${key.path}\`` : `| \`${key.path}\` |`,
      );
    const settable = keys.filter((k) => k.env !== null && k.type !== 'section');
    for (const key of settable) {
      const raw = applyEnvOverrides({}, { [key.env!]: '"marker"' });
      expect(at(raw, key.path), `${key.env} sets ${key.path}`).to.equal('marker');
    }
  });

  it('describes every key in a sentence, and describes no key that does not exist', () => {
    const keys = configKeys();
    expect(keys.filter((k) => k.description.trim() === '').map((k) => k.path)).to.deep.equal([]);
    const paths = new Set(keys.map((k) => k.path));
    expect(
      Object.keys(KEY_DESCRIPTIONS).filter((p) => !paths.has(p)),
      'entries naming no key',
    ).to.deep.equal([]);
    expect(renderConfigurationDoc()).not.to.match(/\| {2}\|$/m);
  });

  for (const example of WORKED_EXAMPLES) {
    it(`worked example "${example.title}" is a valid config`, () => {
      const result = configSchema.safeParse(YAML.parse(example.yaml));
      expect(result.success, result.success ? '' : JSON.stringify(result.error.issues[0])).to.equal(true);
    });
  }
});
