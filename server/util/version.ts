import fs from 'node:fs';
import path from 'node:path';
import { HOMEPORT_ROOT } from './root.js';

/** package.json's version: the CLI's --version and the OpenAPI document's. */
export const HOMEPORT_VERSION = (
  JSON.parse(fs.readFileSync(path.join(HOMEPORT_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
