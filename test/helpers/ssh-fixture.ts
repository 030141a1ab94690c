import { expect } from 'chai';
import path from 'node:path';
import type { Logger } from '../../server/log/logger';
import { createSshClient, type SshClient, type SshClientOptions } from '../../server/ssh/client';
import type { TestSshd } from './sshd';

/** An ssh2 client for the test sshd as root with the test's key. */
export function testSshClient(sshd: TestSshd, log: Logger, overrides: Partial<SshClientOptions> = {}): SshClient {
  return createSshClient({ user: 'root', port: sshd.port, keyFile: sshd.keyFile, hostKeys: 'accept', knownHostsFile: path.join(sshd.dir, 'known_hosts'), connectTimeoutMs: 20_000, commandTimeoutMs: 30_000, log, ...overrides });
}

/** Safety first: the stubs must shadow every node-side command, above all `reboot`. */
export async function assertStubsFirst(ssh: SshClient, sshd: TestSshd, host = '127.0.0.2'): Promise<void> {
  for (const command of ['reboot', 'pvecm', 'k3s', 'k3s-install']) {
    const found = await ssh.exec(host, `command -v ${command}`);
    expect(found.stdout.trim(), `${command} on the sessions' PATH`).to.equal(path.join(sshd.binDir, command));
  }
}

/** The env keys that point a homeport at the test sshd. */
export function sshEnv(sshd: TestSshd): Record<string, string> {
  return {
    HOMEPORT_SSH__PORT: String(sshd.port),
    HOMEPORT_SSH__KEYFILE: sshd.keyFile,
    HOMEPORT_SSH__CONNECTTIMEOUTMS: '20000',
    HOMEPORT_SSH__RETRYDELAYMS: '100',
  };
}
