import net from 'node:net';
import type { SshClient } from '../ssh/client';

export interface Readiness {
  ready: boolean;
  /** What passed, or what failed first. */
  detail: string;
}

export type ReadinessCheck = (ip: string, ports: readonly number[]) => Promise<Readiness>;

/**
 * Seed 000's "node accessible and services ready": SSH answers (connect and
 * authenticate) within the timeout, then each service port accepts a TCP
 * connection (e.g. Proxmox's API on 8006).
 */
export function createReadinessCheck(options: { ssh: SshClient; sshTimeoutMs: number; portTimeoutMs: number }): ReadinessCheck {
  return async (ip, ports) => {
    try {
      await options.ssh.probe(ip, options.sshTimeoutMs);
    } catch (err) {
      return { ready: false, detail: (err as Error).message };
    }
    for (const port of ports) {
      const error = await tcpCheck(ip, port, options.portTimeoutMs);
      if (error) return { ready: false, detail: `${ip}:${port}: ${error}` };
    }
    return { ready: true, detail: ['ssh', ...ports.map((p) => `port ${p}`)].join(' + ') + ' ok' };
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
