import fs from 'node:fs';
import { Client } from 'ssh2';
import type { Logger } from '../log/logger.js';
import { pinnedVerdict, type HostKeyPolicy, type HostKeyVerdict, type PinnedHost } from './host-keys.js';
import { fetchHostCertificates, type FetchCertificates } from './keyscan.js';
import { hasCertAuthority, knownHostsVerdict, parseKnownHosts, type KnownHostEntry } from './known-hosts.js';
import { maskSecrets } from './mask.js';

/** The same closed set as homeport_ssh_errors_total{kind}. */
export type SshErrorKind = 'connect' | 'auth' | 'timeout' | 'command' | 'other';

export interface ExecResult {
  /** Exit status; null when the connection ended before the command reported one (e.g. `reboot`). */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** An SSH failure; its message never holds a secret passed in `secrets`. */
export class SshError extends Error {
  constructor(
    readonly kind: SshErrorKind,
    readonly host: string,
    message: string,
    readonly result?: ExecResult,
  ) {
    super(message);
    this.name = 'SshError';
  }

  /** Nothing ran on the node: repeating the call cannot do anything twice. */
  get commandNeverStarted(): boolean {
    return this.kind === 'connect' || this.kind === 'auth' || (this.kind === 'timeout' && this.result === undefined);
  }
}

export interface ExecOptions {
  timeoutMs?: number;
  /** Written to the command's stdin, then closed: how secrets reach a node without a command line. */
  stdin?: string;
  /** Masked in logs and errors (tokens, passwords). */
  secrets?: readonly string[];
}

export interface SshClient {
  /** Runs a command; resolves with its status (a non-zero exit is a result, not an error). */
  exec(host: string, command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Like exec, but a non-zero exit or a lost connection is an SshError('command'). */
  run(host: string, command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Connects and authenticates within the timeout, then disconnects. */
  probe(host: string, timeoutMs?: number): Promise<void>;
}

export interface SshClientOptions {
  user: string;
  port: number;
  keyFile: string;
  /** File holding the passphrase of an encrypted key. */
  keyPassphraseFile?: string;
  /**
   * pinned: the keys the node's install reported (register's host_keys), else
   * known_hosts; known_hosts: knownHostsFile only; accept: any key (opt-in).
   */
  hostKeys: HostKeyPolicy;
  knownHostsFile: string;
  /** pinned: the node at an address and its keys (server/store/host-keys.ts HostKeysRepo.pinnedHostAt). */
  pinnedHost?: (host: string) => Promise<PinnedHost>;
  /** Host certificates for @cert-authority hosts; default ssh-keyscan -c. */
  fetchCertificates?: FetchCertificates;
  /** Certificate validity is checked against this; default Date.now. */
  clock?: () => number;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  log: Logger;
  /** Counts failures (homeport_ssh_errors_total). */
  onError?: (kind: SshErrorKind) => void;
}

/** Checks the key a host presents (raw blob); the reason names the node and fingerprints when refused. */
type HostVerifier = (key: Buffer) => HostKeyVerdict;

/** Output kept per stream; a runaway command cannot fill memory. */
const MAX_OUTPUT = 1024 * 1024;

export function createSshClient(options: SshClientOptions): SshClient {
  return new Ssh2Client(options);
}

/** A thin ssh2 wrapper: one connection per call, key auth, a timeout on connect and on the command. */
class Ssh2Client implements SshClient {
  constructor(private readonly options: SshClientOptions) {}

  async exec(host: string, command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const secrets = options.secrets ?? [];
    const shown = maskSecrets(command, secrets);
    const started = Date.now();
    try {
      const conn = await this.connect(host, this.options.connectTimeoutMs);
      try {
        const result = await this.execOn(conn, host, command, shown, options);
        this.options.log.debug(
          { host, command: shown, code: result.code, ms: Date.now() - started },
          'ssh command finished',
        );
        return result;
      } finally {
        conn.end();
      }
    } catch (err) {
      throw this.failed(err, host, secrets);
    }
  }

  async run(host: string, command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const result = await this.exec(host, command, options);
    if (result.code === 0) return result;
    const shown = maskSecrets(command, options.secrets ?? []);
    const why =
      result.code === null
        ? `ended without an exit status${result.signal ? ` (signal ${result.signal})` : ''}`
        : `exited ${result.code}`;
    const detail = lastLine(maskSecrets(result.stderr || result.stdout, options.secrets ?? []));
    throw this.failed(
      new SshError('command', host, `${this.who(host)}: \`${shown}\` ${why}${detail ? `: ${detail}` : ''}`, result),
      host,
      [],
    );
  }

  async probe(host: string, timeoutMs = this.options.connectTimeoutMs): Promise<void> {
    try {
      (await this.connect(host, timeoutMs)).end();
    } catch (err) {
      throw this.failed(err, host, []);
    }
  }

  private who(host: string): string {
    return `ssh ${this.options.user}@${host}:${this.options.port}`;
  }

  private failed(err: unknown, host: string, secrets: readonly string[]): SshError {
    const error =
      err instanceof SshError
        ? err
        : new SshError('other', host, `${this.who(host)}: ${maskSecrets((err as Error).message, secrets)}`);
    this.options.onError?.(error.kind);
    return error;
  }

  private readKey(host: string): Buffer {
    return this.readSetting(host, this.options.keyFile, 'private key', 'ssh.keyFile');
  }

  /** The passphrase is read per connection like the key, and never appears in a message. */
  private readPassphrase(host: string): string | undefined {
    const file = this.options.keyPassphraseFile;
    return file === undefined
      ? undefined
      : this.readSetting(host, file, 'key passphrase file', 'ssh.keyPassphraseFile')
          .toString('utf8')
          .replace(/\r?\n$/, '');
  }

  private readSetting(host: string, file: string, what: string, key: string): Buffer {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new SshError(
        'auth',
        host,
        `${this.who(host)}: cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}); set ${key}`,
      );
    }
  }

  /** known_hosts is read per connection, so an admin's edit applies without a restart. */
  private knownHosts(): KnownHostEntry[] {
    try {
      return parseKnownHosts(fs.readFileSync(this.options.knownHostsFile, 'utf8'));
    } catch {
      return []; // no file: no host is known
    }
  }

  /** Decided before the TCP connect: pinned keys are looked up once per connection (an admin's or installer's change applies at once). */
  private async hostVerifier(host: string): Promise<HostVerifier | undefined> {
    const { hostKeys } = this.options;
    if (hostKeys === 'accept') return undefined;
    if (hostKeys === 'known_hosts') return this.knownHostsVerifier(host);
    if (!this.options.pinnedHost)
      throw new SshError('auth', host, `${this.who(host)}: ssh.hostKeys is pinned but no pinned-key store is wired`);
    const pinned = await this.options.pinnedHost(host);
    const hasPins = pinned.kind === 'node' && pinned.keys.length > 0;
    // known_hosts is the fallback only for a node whose install sent no keys.
    const fallback: HostVerifier = hasPins
      ? () => ({ ok: false, reason: 'pinned keys exist' })
      : await this.knownHostsVerifier(host);
    return (key) => pinnedVerdict(pinned, host, key, () => fallback(key).ok);
  }

  /** known_hosts, with the host's certificates fetched first when a @cert-authority line covers it. */
  private async knownHostsVerifier(host: string): Promise<HostVerifier> {
    const { port, connectTimeoutMs } = this.options;
    const entries = this.knownHosts();
    const fetchCertificates = this.options.fetchCertificates ?? fetchHostCertificates;
    const certificates = hasCertAuthority(entries, host, port)
      ? await fetchCertificates(host, port, connectTimeoutMs)
      : [];
    const now = (this.options.clock ?? Date.now)();
    return (key) => knownHostsVerdict(entries, host, port, key, { certificates, now });
  }

  private async connect(host: string, timeoutMs: number): Promise<Client> {
    const privateKey = this.readKey(host);
    const passphrase = this.readPassphrase(host);
    const verifier = await this.hostVerifier(host);
    let hostRejected: string | null = null;
    return new Promise((resolve, reject) => {
      const conn = new Client();
      let ready = false;
      conn.on('error', (err: Error & { level?: string; code?: string }) => {
        if (ready) return; // after ready, exec reports failures through its channel
        conn.end();
        reject(this.connectError(host, err, hostRejected, timeoutMs));
      });
      conn.once('ready', () => {
        ready = true;
        resolve(conn);
      });
      conn.connect({
        host,
        port: this.options.port,
        username: this.options.user,
        privateKey,
        passphrase,
        // ssh2 starts this timer before the TCP connect, so it bounds connect + handshake + auth.
        readyTimeout: timeoutMs,
        // Refused here, ssh2 ends the handshake before authentication: no command, no stdin reaches the host.
        hostVerifier: verifier
          ? (key: Buffer) => {
              const verdict = verifier(key);
              hostRejected = verdict.ok ? null : verdict.reason;
              return verdict.ok;
            }
          : undefined,
      });
    });
  }

  private connectError(
    host: string,
    err: Error & { level?: string; code?: string },
    hostRejected: string | null,
    timeoutMs: number,
  ): SshError {
    const who = this.who(host);
    if (hostRejected !== null)
      return new SshError('auth', host, `${who}: ${hostRejected} (ssh.hostKeys is ${this.options.hostKeys})`);
    if (err.level === 'client-authentication')
      return new SshError('auth', host, `${who}: key ${this.options.keyFile} was refused`);
    if (err.level === 'client-timeout')
      return new SshError('timeout', host, `${who}: no SSH session within ${timeoutMs} ms`);
    if (err.level === 'client-socket')
      return new SshError('connect', host, `${who}: cannot connect (${err.code ?? err.message})`);
    return new SshError('connect', host, `${who}: ${err.message}`);
  }

  private execOn(
    conn: Client,
    host: string,
    command: string,
    shown: string,
    options: ExecOptions,
  ): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? this.options.commandTimeoutMs;
    return new Promise((resolve, reject) => {
      const result: ExecResult = { code: null, signal: null, stdout: '', stderr: '' };
      const timer = setTimeout(() => {
        // Closing the connection makes sshd hang up the session; the command may still finish on the node.
        conn.end();
        reject(
          new SshError(
            'timeout',
            host,
            `${this.who(host)}: \`${shown}\` did not finish within ${timeoutMs} ms`,
            result,
          ),
        );
      }, timeoutMs);
      conn.exec(command, (err, stream) => {
        if (err) {
          clearTimeout(timer);
          return reject(new SshError('other', host, `${this.who(host)}: cannot start \`${shown}\`: ${err.message}`));
        }
        const append = (key: 'stdout' | 'stderr') => (chunk: Buffer) => {
          if (result[key].length < MAX_OUTPUT) result[key] += chunk.toString('utf8');
        };
        stream.on('data', append('stdout'));
        stream.stderr.on('data', append('stderr'));
        stream.on('exit', (code: number | null, signal?: string) => {
          result.code = typeof code === 'number' ? code : null;
          result.signal = signal ?? null;
        });
        stream.on('close', () => {
          clearTimeout(timer);
          resolve(result);
        });
        stream.end(options.stdin ?? undefined);
      });
    });
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 300);
}
