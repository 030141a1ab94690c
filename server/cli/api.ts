import fs from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../kernel/config-error.js';
import type { Config } from '../config/schema.js';
import { CliExit, EXIT } from './exit.js';

/**
 * The admin-API client of the CLI commands that talk to a running server
 * (reprovision, clusters, jobs, nodes import), with the admin token from
 * $HOMEPORT_ADMIN_TOKEN or the data dir's admin.token.
 */
export interface ApiOptions {
  config?: string;
  url?: string;
}

export interface Api {
  call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
}

/** False when interrupted. */
export function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => resolve(true), ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve(false)), { once: true });
  });
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

function configOf(options: ApiOptions): Config {
  try {
    return loadConfig(options.config).config;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliExit(EXIT.usage, err.message);
    throw err;
  }
}

export function apiFrom(options: ApiOptions, env: NodeJS.ProcessEnv = process.env): Api {
  const config = configOf(options);
  const base = (options.url ?? env.HOMEPORT_URL ?? localUrl(config)).replace(/\/$/, '');
  const token = env.HOMEPORT_ADMIN_TOKEN ?? readToken(config.auth.adminTokenFile);
  return {
    async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
      let response: Response;
      try {
        response = await fetch(base + path, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        throw new CliExit(
          EXIT.failure,
          `cannot reach homeport at ${base}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`,
        );
      }
      const text = await response.text();
      const json = parseJson(text);
      // Something else answers there (a web server, a proxy's error page): say so instead of printing its HTML.
      if (json === undefined) throw new CliExit(EXIT.failure, notHomeport(base, method, path, response));
      if (response.ok) return json as T;
      const detail = (json as { detail?: unknown } | null)?.detail;
      throw new CliExit(
        response.status === 404 ? EXIT.notFound : response.status === 400 ? EXIT.usage : EXIT.failure,
        `${method} ${path}: HTTP ${response.status}: ${typeof detail === 'string' ? detail : text}`,
        response.status,
      );
    },
  };
}

/** The parsed JSON, or undefined when the text is not JSON. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function notHomeport(base: string, method: string, path: string, response: Response): string {
  const type = (response.headers.get('content-type') ?? 'no content type').split(';')[0];
  return `${method} ${path}: HTTP ${response.status} with ${type}, not JSON: ${base} does not look like homeport (check --url, $HOMEPORT_URL or http.port)`;
}

function localUrl(config: Config): string {
  const host = ['0.0.0.0', '::', ''].includes(config.http.host) ? '127.0.0.1' : config.http.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}`;
}

function readToken(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new CliExit(
      EXIT.usage,
      `no admin token: set HOMEPORT_ADMIN_TOKEN or make ${file} readable (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
}
