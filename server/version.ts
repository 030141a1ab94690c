import fs from 'node:fs';

/** package.json's version: the CLI's --version and the OpenAPI document's. */
export const HOMEPORT_VERSION = (
  JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
