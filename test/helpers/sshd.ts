import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

/**
 * A real OpenSSH sshd (Debian's openssh-server) on loopback for tests: a
 * throwaway host key, a client key the test generated, and a PATH for
 * sessions that starts with a directory of stub commands (see node-stubs.ts).
 * It listens on several loopback addresses with one port, so 127.0.0.2, .3, ...
 * are distinct "nodes"; a stub tells them apart by the address the session
 * came in on (SSH_CONNECTION). Only this process's sshd is killed, by PID.
 */
export interface TestSshd {
  port: number;
  dir: string;
  /** The client private key homeport uses (ssh.keyFile). */
  keyFile: string;
  /** The host public key line (for known_hosts tests). */
  hostPublicKey: string;
  /** Directory first on the sessions' PATH. */
  binDir: string;
  /** sshd's own log (-e). */
  log(): string;
  start(): Promise<void>;
  /** Stops sshd (connections are then refused); start() brings it back on the same port. */
  stop(): Promise<void>;
  /** Stops sshd and removes its files. */
  dispose(): Promise<void>;
}

export const NODE_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];

/** A host certificate for the sshd's host key, signed by `caKeyFile` (ssh-keygen -s) for these principals. */
export interface TestHostCertificate {
  caKeyFile: string;
  principals: string[];
  /** ssh-keygen -V, e.g. `-5m:+1h` or `20200101:20200102`; default always valid. */
  validity?: string;
}

/**
 * `port`: a given port (a second sshd on other addresses, same port: an
 * impostor at a node's address). `hostCertificate`: the sshd also offers a
 * host certificate (to clients that ask for one, e.g. ssh-keyscan -c).
 */
export async function startTestSshd(
  options: { listen?: string[]; port?: number; hostCertificate?: TestHostCertificate } = {},
): Promise<TestSshd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-sshd-'));
  const binDir = path.join(dir, 'bin');
  fs.mkdirSync(binDir);
  const hostKey = path.join(dir, 'host_ed25519');
  const keyFile = path.join(dir, 'client_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'homeport-test', '-f', keyFile]);
  const certificate = options.hostCertificate;
  if (certificate) {
    const validity = certificate.validity ? ['-V', certificate.validity] : [];
    execFileSync(
      'ssh-keygen',
      [
        '-q',
        '-s',
        certificate.caKeyFile,
        '-I',
        'homeport-test-host',
        '-h',
        '-n',
        certificate.principals.join(','),
        ...validity,
        `${hostKey}.pub`,
      ],
      { stdio: 'ignore' },
    );
  }
  const authorizedKeys = path.join(dir, 'authorized_keys');
  fs.copyFileSync(`${keyFile}.pub`, authorizedKeys);
  fs.chmodSync(authorizedKeys, 0o600);
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege-separation directory
  const port = options.port ?? (await freePort());
  const listen = options.listen ?? ['127.0.0.1', ...NODE_ADDRESSES];
  const configFile = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    configFile,
    [
      ...listen.map((address) => `ListenAddress ${address}:${port}`),
      `HostKey ${hostKey}`,
      ...(certificate ? [`HostCertificate ${hostKey}-cert.pub`] : []),
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The temp dir sits under world-writable /tmp, which StrictModes rejects.
      'StrictModes no',
      'MaxStartups 100:30:200',
      'MaxSessions 50',
      'LogLevel ERROR',
      // Stubs first; /usr/sbin is left out on purpose, so the real `reboot` is never found.
      `SetEnv PATH=${binDir}:/usr/bin:/bin`,
      '',
    ].join('\n'),
  );
  let child: ChildProcess | null = null;
  let output = '';
  const sshd: TestSshd = {
    port,
    dir,
    keyFile,
    binDir,
    hostPublicKey: fs.readFileSync(`${hostKey}.pub`, 'utf8').trim(),
    log: () => output,
    async start() {
      if (child) return;
      const started = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', configFile, '-p', String(port)], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      started.stderr?.on('data', (c: Buffer) => (output += c.toString()));
      child = started;
      await waitForListening(listen[0]!, port, started, () => output);
    },
    async stop() {
      const running = child;
      child = null;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGTERM');
      await exited;
    },
    async dispose() {
      await sshd.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await sshd.start();
  return sshd;
}

async function waitForListening(host: string, port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited ${child.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on ${host}:${port} within 5 s: ${log()}`);
}
