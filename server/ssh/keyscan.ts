import { execFile } from 'node:child_process';

/** Host names and addresses only: what reaches ssh-keyscan's argv can never be an option. */
const HOST = /^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$/;

export type FetchCertificates = (host: string, port: number, timeoutMs: number) => Promise<Buffer[]>;

/**
 * The host certificates a server offers, from OpenSSH's `ssh-keyscan -c`
 * (ssh2 cannot ask for them). An error or a timeout is "no certificate":
 * the caller then refuses the host, it never trusts more.
 */
export const fetchHostCertificates: FetchCertificates = (host, port, timeoutMs) => {
  if (!HOST.test(host)) return Promise.resolve([]);
  const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  return new Promise((resolve) => {
    execFile(
      'ssh-keyscan',
      ['-c', '-T', seconds, '-p', String(port), host],
      { timeout: timeoutMs + 1000, maxBuffer: 256 * 1024 },
      (_err, stdout) => resolve(parseKeyscan(String(stdout ?? ''))),
    );
  });
};

/** The certificates in ssh-keyscan's output: `type base64` (OpenSSH 9 prints no host name before certificates), or `host type base64`. */
export function parseKeyscan(output: string): Buffer[] {
  const certificates: Buffer[] = [];
  for (const line of output.split('\n')) {
    if (line.startsWith('#')) continue;
    const fields = line.trim().split(/\s+/);
    const at = fields.findIndex((f) => f.endsWith('-cert-v01@openssh.com'));
    if (at >= 0 && fields[at + 1]) certificates.push(Buffer.from(fields[at + 1]!, 'base64'));
  }
  return certificates;
}
