import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServerProcess, type ServerProcess } from './cli.js';
import { adminFields, roundTokenFor } from './round-token.js';
import { runClient, type SimulatedNode } from './simulated-node.js';
import { sshEnv } from './ssh-fixture.js';
import type { TestSshd } from './sshd.js';

export interface CliLab {
  dir: string;
  /** The env a CLI run needs to find the server: the same config, data dir and port. */
  env: NodeJS.ProcessEnv;
  server: ServerProcess;
  /** The token of a node's open install round (admin API). */
  tokenOf(mac: string): Promise<string>;
  adminToken(): string;
  /** Stops the server and removes the dir; resolves to the server's exit code. */
  stop(): Promise<number | null>;
}

/**
 * `homeport serve` as a child process for CLI tests: restarts over SSH to the
 * test sshd's stub nodes, the watcher every second (so a test does not wait
 * 30 s), cluster `lab` formed by a script that only says so, and `nodes`
 * registered through the real phone-home script. `env` adds config keys.
 */
export async function startCliLab(
  sshd: TestSshd,
  nodes: SimulatedNode[],
  options: { prefix: string; env?: Record<string, string> },
): Promise<CliLab> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), options.prefix));
  const dataDir = path.join(dir, 'data');
  const formScript = path.join(dir, 'form.sh');
  fs.writeFileSync(formScript, '#!/bin/sh\necho "formed $CLUSTER"\n', { mode: 0o755 });
  const env: NodeJS.ProcessEnv = {
    HOMEPORT_CONFIG: '',
    HOMEPORT_DATADIR: dataDir,
    ...sshEnv(sshd),
    HOMEPORT_WATCHER__SCHEDULE: '* * * * * *',
    HOMEPORT_WATCHER__SSHTIMEOUTMS: '20000',
    HOMEPORT_CLUSTERS: JSON.stringify({ lab: { driver: 'script', script: formScript } }),
    ...options.env,
  };
  const readToken = (name: string) => fs.readFileSync(path.join(dataDir, name), 'utf8').trim();
  let baseUrl = '';
  const tokenOf = (mac: string, fields?: Record<string, unknown>) =>
    roundTokenFor(baseUrl, readToken('admin.token'), mac, fields);
  let server: ServerProcess | null = null;
  const stop = async () => {
    const code = (await server?.stop()) ?? null;
    fs.rmSync(dir, { recursive: true, force: true });
    return code;
  };
  try {
    server = await startServerProcess(env);
    env.HOMEPORT_HTTP__PORT = String(server.port);
    baseUrl = server.baseUrl;
    // An admin adds the nodes (with the address homeport's SSH uses), then each installer registers.
    for (const node of nodes)
      await runClient(server.baseUrl, await tokenOf(node.mac, adminFields(node)), node, 'homeport-register', []);
    return { dir, env, server, tokenOf, adminToken: () => readToken('admin.token'), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
