import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { maskSecrets } from '../../server/ssh/mask.js';
import { captureLogger } from '../helpers/capture-log.js';
import { installNodeStubs } from '../helpers/node-stubs.js';
import { assertStubsFirst, sshRejection as rejection, testSshClient } from '../helpers/ssh-fixture.js';
import { startTestSshd, type TestSshd } from '../helpers/sshd.js';

describe('ssh client (ssh2) against a real sshd', function () {
  this.timeout(90_000);
  let sshd: TestSshd;
  before(async () => {
    sshd = await startTestSshd();
    installNodeStubs(sshd.binDir);
  });
  after(async () => sshd.dispose());

  it('runs a command with stdin and returns its status and output; stubs shadow node commands', async () => {
    const ssh = testSshClient(sshd, captureLogger().log);
    await assertStubsFirst(ssh, sshd);
    const result = await ssh.exec('127.0.0.3', 'read -r line; echo "got $line"; echo err >&2; exit 3', {
      stdin: 'hello\n',
    });
    expect(result).to.deep.equal({ code: 3, signal: null, stdout: 'got hello\n', stderr: 'err\n' });
  });

  it('run() turns a non-zero exit into a command error that masks secrets', async () => {
    const captured = captureLogger();
    const ssh = testSshClient(sshd, captured.log);
    const secret = 'tok-0123456789abcdef';
    const err = await rejection(ssh.run('127.0.0.2', `echo "bad token ${secret}" >&2; exit 1`, { secrets: [secret] }));
    expect(err.kind).to.equal('command');
    expect(err.message).to.include('exited 1').and.include('bad token ****');
    expect(err.message).not.to.include(secret);
    expect(captured.text()).not.to.include(secret);
  });

  it('times out a command that runs too long (and says it started)', async () => {
    const ssh = testSshClient(sshd, captureLogger().log, { commandTimeoutMs: 500 });
    const started = Date.now();
    const err = await rejection(ssh.exec('127.0.0.2', 'sleep 60'));
    expect(err.kind).to.equal('timeout');
    expect(err.message).to.match(/`sleep 60` did not finish within 500 ms/);
    expect(err.commandNeverStarted).to.equal(false);
    expect(Date.now() - started, 'connect (slow under load) + 500 ms, far from 60 s').to.be.below(25_000);
  });

  it('reports a refused connection as a connect error that is safe to retry', async () => {
    const kinds: string[] = [];
    const ssh = testSshClient(sshd, captureLogger().log, { onError: (k) => kinds.push(k) });
    const err = await rejection(ssh.probe('127.0.0.9')); // sshd does not listen there
    expect(err.kind).to.equal('connect');
    expect(err.commandNeverStarted).to.equal(true);
    expect(err.message).to.match(/ECONNREFUSED/);
    expect(kinds).to.deep.equal(['connect']);
  });

  it('reports a refused key as an auth error', async () => {
    const otherKey = path.join(sshd.dir, 'other_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    const err = await rejection(testSshClient(sshd, captureLogger().log, { keyFile: otherKey }).probe('127.0.0.2'));
    expect(err.kind).to.equal('auth');
    const missing = await rejection(
      testSshClient(sshd, captureLogger().log, { keyFile: path.join(sshd.dir, 'nope') }).probe('127.0.0.2'),
    );
    expect(missing.message).to.match(/cannot read private key .*nope \(ENOENT\)/);
  });

  it('with hostKeys known_hosts, accepts a listed host key and refuses an unlisted host', async () => {
    const knownHostsFile = path.join(sshd.dir, 'known_hosts');
    const [type, key] = sshd.hostPublicKey.split(' ');
    fs.writeFileSync(knownHostsFile, `# test\n[127.0.0.2]:${sshd.port},[127.0.0.3]:${sshd.port} ${type} ${key}\n`);
    const ssh = testSshClient(sshd, captureLogger().log, { hostKeys: 'known_hosts', knownHostsFile });
    await ssh.probe('127.0.0.2');
    await ssh.probe('127.0.0.3');
    const err = await rejection(ssh.probe('127.0.0.4'));
    expect(err.kind).to.equal('auth');
    expect(err.message).to.match(/host key SHA256:\S+ is not listed for \[127\.0\.0\.4\]:\d+ in known_hosts/);
  });

  it('masks every occurrence of each secret and leaves short ones alone', () => {
    expect(maskSecrets('a=abcd1234 b=abcd1234 c=xy', ['abcd1234', 'xy'])).to.equal('a=**** b=**** c=xy');
  });
});
