import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../server/config/load.js';
import { startHomeport, type Homeport } from '../../server/app/homeport.js';
import type { DatabaseKind } from './databases.js';
import { freePort } from './ports.js';
import { createTestDatabase } from './postgres.js';
import { roundTokenFor } from './round-token.js';

export interface TestHomeport {
  homeport: Homeport;
  baseUrl: string;
  adminToken: string;
  dataDir: string;
  /** The token of the node's open install round; a MAC homeport does not know is added first (with `fields`). */
  tokenFor(mac: string, fields?: Record<string, unknown>): Promise<string>;
  /** fetch with JSON body and the admin token when `admin` is set. `body` is the parsed JSON: any, since each test asserts its shape. */
  request(
    method: string,
    urlPath: string,
    options?: { body?: unknown; admin?: boolean; headers?: Record<string, string> },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each test asserts the body's shape itself
  ): Promise<{ status: number; body: any; text: string; headers: Headers }>;
  stop(): Promise<void>;
}

/**
 * homeport in this process on loopback with a fresh data dir; env-style
 * overrides as in production (HOMEPORT_* keys). Runs on SQLite, or on a
 * fresh database of the test PostgreSQL.
 */
export async function startTestHomeport(
  options: { kind?: DatabaseKind; env?: Record<string, string> } = {},
): Promise<TestHomeport> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-test-'));
  const port = options.env?.HOMEPORT_HTTP__PORT ? Number(options.env.HOMEPORT_HTTP__PORT) : await freePort();
  const env: Record<string, string> = {
    HOMEPORT_DATADIR: dataDir,
    HOMEPORT_HTTP__HOST: '127.0.0.1',
    HOMEPORT_HTTP__PORT: String(port),
    ...options.env,
  };
  if (options.kind === 'postgres') env.DATABASE_URL = await createTestDatabase();
  let homeport: Homeport;
  try {
    const { config } = loadConfig(undefined, env);
    homeport = await startHomeport(config, {
      log: pino({ level: process.env.HOMEPORT_TEST_LOG ?? 'silent' }),
      announce: () => undefined,
    });
  } catch (err) {
    fs.rmSync(dataDir, { recursive: true, force: true }); // a test that expects the start to fail leaves nothing behind
    throw err;
  }
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    homeport,
    baseUrl,
    adminToken: homeport.adminToken,
    dataDir,
    tokenFor: (mac, fields) => roundTokenFor(baseUrl, homeport.adminToken, mac, fields),
    async request(method, urlPath, { body, admin, headers = {} } = {}) {
      const init: RequestInit = { method, headers: { ...headers } };
      if (admin) (init.headers as Record<string, string>).authorization = `Bearer ${homeport.adminToken}`;
      if (body !== undefined) {
        (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
      }
      const response = await fetch(baseUrl + urlPath, init);
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = null;
      }
      return { status: response.status, body: parsed, text, headers: response.headers };
    },
    async stop() {
      await homeport.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
