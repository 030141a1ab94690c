import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nodeToken } from '../../server/auth/tokens';
import { startServerProcess, type ServerProcess } from './cli';
import { runClient, type SimulatedNode } from './simulated-node';
import { sshEnv } from './ssh-fixture';
import type { TestSshd } from './sshd';

export interface CliLab {
  dir: string;
  /** The env a CLI run needs to find the server: the same config, data dir and port. */
  env: NodeJS.ProcessEnv;
  server: ServerProcess;
  /** A node's token, from the secret the server wrote. */
  tokenOf(mac: string): string;
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
export async function startCliLab(sshd: TestSshd, nodes: SimulatedNode[], options: { prefix: string; env?: Record<string, string> }): Promise<CliLab> {
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
  const tokenOf = (mac: string) => nodeToken(readToken('secret'), mac);
  let server: ServerProcess | null = null;
  const stop = async () => {
    const code = (await server?.stop()) ?? null;
    fs.rmSync(dir, { recursive: true, force: true });
    return code;
  };
  try {
    server = await startServerProcess(env);
    env.HOMEPORT_HTTP__PORT = String(server.port);
    for (const node of nodes) await runClient(server.baseUrl, tokenOf(node.mac), node, 'homeport-register', []);
    return { dir, env, server, tokenOf, adminToken: () => readToken('admin.token'), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
