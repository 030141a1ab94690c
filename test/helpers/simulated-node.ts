import { spawn } from 'node:child_process';
import path from 'node:path';

const SCRIPTS = path.resolve('scripts');

export interface SimulatedNode {
  mac: string;
  hostname: string;
  ip: string;
  cluster?: string;
}

/**
 * A node's installer talking to homeport through the real shell clients
 * (scripts/homeport-register, scripts/homeport-phase) under /bin/sh.
 */
export function runClient(
  baseUrl: string,
  token: string,
  node: SimulatedNode,
  script: 'homeport-register' | 'homeport-phase',
  args: string[],
): Promise<void> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOMEPORT_URL: baseUrl,
    HOMEPORT_TOKEN: token,
    HOMEPORT_MAC: node.mac,
    HOMEPORT_HOSTNAME: node.hostname,
    HOMEPORT_IP: node.ip,
    HOMEPORT_CLUSTER: node.cluster ?? '',
    HOMEPORT_RETRY_DELAY: '0.2',
  };
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', [path.join(SCRIPTS, script), ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${script} ${args.join(' ')} for ${node.hostname} exited ${code}: ${stderr}`));
    });
  });
}

/** The phases an installer reports from PXE to done (seed 001), each in_progress then completed. */
export const INSTALL_PHASES = ['ipxe_boot', 'config_download', 'installation', 'post_install'];

/** Reports the install phases; `complete` ends with the post-install script's register --complete (seed 000). */
export async function simulateInstall(
  baseUrl: string,
  token: string,
  node: SimulatedNode,
  complete: 'deployed' | 'register' = 'deployed',
): Promise<void> {
  for (const phase of INSTALL_PHASES) {
    await runClient(baseUrl, token, node, 'homeport-phase', [phase, 'in_progress']);
    await runClient(baseUrl, token, node, 'homeport-phase', [phase, 'completed']);
  }
  if (complete === 'register') await runClient(baseUrl, token, node, 'homeport-register', ['--complete']);
  else await runClient(baseUrl, token, node, 'homeport-phase', ['deployed', 'completed', 'install done']);
}
