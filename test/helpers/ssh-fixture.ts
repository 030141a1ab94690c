import { expect } from 'chai';
import path from 'node:path';
import type { Logger } from '../../server/log/logger.js';
import { createSshClient, SshError, type SshClient, type SshClientOptions } from '../../server/ssh/client.js';
import { installNodeStubs, type NodeStubs } from './node-stubs.js';
import { startTestSshd, type TestSshd } from './sshd.js';

/** An ssh2 client for the test sshd as root with the test's key. */
export function testSshClient(sshd: TestSshd, log: Logger, overrides: Partial<SshClientOptions> = {}): SshClient {
  return createSshClient({
    user: 'root',
    port: sshd.port,
    keyFile: sshd.keyFile,
    hostKeys: 'accept',
    knownHostsFile: path.join(sshd.dir, 'known_hosts'),
    connectTimeoutMs: 20_000,
    commandTimeoutMs: 30_000,
    log,
    ...overrides,
  });
}

/** The SshError a call rejects with (fails the test when it resolves or throws something else). */
export async function sshRejection(promise: Promise<unknown>): Promise<SshError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(SshError);
    return err as SshError;
  }
  throw new Error('expected a rejection');
}

/** Safety first: the stubs must shadow every node-side command, above all `reboot`. */
export async function assertStubsFirst(ssh: SshClient, sshd: TestSshd, host = '127.0.0.2'): Promise<void> {
  for (const command of ['reboot', 'pvecm', 'k3s', 'k3s-install']) {
    const found = await ssh.exec(host, `command -v ${command}`);
    expect(found.stdout.trim(), `${command} on the sessions' PATH`).to.equal(path.join(sshd.binDir, command));
  }
}

/**
 * The env keys that point a homeport at the test sshd. Host keys are
 * accepted: these suites test formation and power, not pinning, and their
 * nodes are created without an install that reports keys
 * (test/cluster/host-keys.test.ts covers pinned mode).
 */
export function sshEnv(sshd: TestSshd): Record<string, string> {
  return {
    HOMEPORT_SSH__HOSTKEYS: 'accept',
    HOMEPORT_SSH__PORT: String(sshd.port),
    HOMEPORT_SSH__KEYFILE: sshd.keyFile,
    HOMEPORT_SSH__CONNECTTIMEOUTMS: '20000',
    HOMEPORT_SSH__RETRYDELAYMS: '100',
  };
}

/** A real sshd whose sessions run the recording node stubs: the "nodes" homeport reaches over SSH. */
export interface StubbedNodes {
  readonly sshd: TestSshd;
  readonly stubs: NodeStubs;
}

/**
 * Mocha hooks that give a suite stubbed nodes: one sshd for the whole suite
 * with its stubs' call log cleared before each test, or with `perTest` a fresh
 * sshd for each test (for tests that stop it or write into its dir). Call it in
 * the describe before hooks that use it, so they find sshd started; an `after`
 * hook that must run while sshd still answers is registered before this call
 * (mocha runs a suite's after hooks in the order they were registered).
 */
export function useStubbedNodes(options: { listen?: string[]; perTest?: boolean } = {}): StubbedNodes {
  let current: StubbedNodes | null = null;
  const start = async () => {
    const sshd = await startTestSshd({ listen: options.listen });
    current = { sshd, stubs: installNodeStubs(sshd.binDir) };
  };
  const dispose = async () => {
    await current?.sshd.dispose();
    current = null;
  };
  const started = () => {
    if (!current) throw new Error('stubbed nodes are used outside the hooks that start them');
    return current;
  };
  if (options.perTest) {
    beforeEach(start);
    afterEach(dispose);
  } else {
    before(start);
    after(dispose);
    beforeEach(() => started().stubs.clearCalls());
  }
  return {
    get sshd() {
      return started().sshd;
    },
    get stubs() {
      return started().stubs;
    },
  };
}
