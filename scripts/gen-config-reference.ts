/** Writes docs/configuration.md from the config schema: `npx tsx scripts/gen-config-reference.ts`. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderConfigurationDoc } from '../server/config/reference.js';

export const CONFIG_REFERENCE_FILE = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'docs',
  'configuration.md',
);

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  fs.mkdirSync(path.dirname(CONFIG_REFERENCE_FILE), { recursive: true });
  fs.writeFileSync(CONFIG_REFERENCE_FILE, renderConfigurationDoc());
  console.log(`wrote ${path.relative(process.cwd(), CONFIG_REFERENCE_FILE)}`);
}
