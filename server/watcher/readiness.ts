import net from 'node:net';
import type { SshClient } from '../ssh/client.js';

export interface Readiness {
  ready: boolean;
  /** What passed, or what failed first. */
  detail: string;
}

export interface ReadinessRequirements {
  /** SSH must connect and authenticate. */
  ssh: boolean;
  /** Service ports that must accept a TCP connection. */
  ports: readonly number[];
}

export type ReadinessCheck = (ip: string, requirements: ReadinessRequirements) => Promise<Readiness>;

/**
 * Seed 000's "node accessible and services ready": SSH answers (connect and
 * authenticate) within the timeout, then each service port accepts a TCP
 * connection (e.g. Proxmox's API on 8006).
 */
export function createReadinessCheck(options: {
  ssh: SshClient;
  sshTimeoutMs: number;
  portTimeoutMs: number;
}): ReadinessCheck {
  return async (ip, { ssh, ports }) => {
    if (ssh) {
      try {
        await options.ssh.probe(ip, options.sshTimeoutMs);
      } catch (err) {
        return { ready: false, detail: (err as Error).message };
      }
    }
    for (const port of ports) {
      const error = await tcpCheck(ip, port, options.portTimeoutMs);
      if (error) return { ready: false, detail: `${ip}:${port}: ${error}` };
    }
    const checked = [...(ssh ? ['ssh'] : []), ...ports.map((p) => `port ${p}`)];
    return {
      ready: true,
      detail: checked.length ? `${checked.join(' + ')} ok` : 'installed (no readiness check configured)',
    };
  };
}

/** Null when the port accepts within the timeout, else why not. */
export function tcpCheck(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (error: string | null) => {
      socket.destroy();
      resolve(error);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    socket.once('connect', () => done(null));
    socket.once('error', (err: NodeJS.ErrnoException) => done(`cannot connect (${err.code ?? err.message})`));
  });
}
