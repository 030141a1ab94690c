/**
 * The homeport tree: the nearest directory above this file that holds
 * package.json. It is the checkout when running the sources (server/) and the
 * same directory when running the compiled code (dist/server/), so files shipped
 * beside the code (boot-templates/, scripts/, package.json) are found from both.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

export const HOMEPORT_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));
