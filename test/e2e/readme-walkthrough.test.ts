import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runProcess } from '../helpers/cli.js';

/**
 * The README's "Try it" walkthrough, run word for word: its shell blocks between
 * the walkthrough markers go to bash in the repository directory (TMPDIR is a
 * temp dir, so the walkthrough's `mktemp -d` lands there). Before its last block
 * (the clean-up) the test reads what homeport knows over HTTP; after it, nothing
 * of the walkthrough may be left. A trap deletes the namespace and kills what
 * runs in it (only this script started it: the namespace must not exist
 * before) when a command fails or the time runs out.
 */
const REPO = path.resolve('.');
const README = path.join(REPO, 'README.md');
const LOCK = '/tmp/homeport-readme-walkthrough.lock'; // two runs at once would share the README's namespace name
const LOCK_WAIT_S = 600;
const RUN_LIMIT_S = Number(process.env.WALKTHROUGH_TIMEOUT_S ?? 480);
const HTTP_PORT = 8080; // the default http.port: the walkthrough's config leaves it

/** The fenced sh blocks between `<!-- walkthrough:start -->` and `<!-- walkthrough:end -->`. */
export function walkthroughBlocks(markdown: string): string[] {
  const part = /<!-- walkthrough:start -->\n([\s\S]*?)<!-- walkthrough:end -->/.exec(markdown)?.[1];
  if (part === undefined)
    throw new Error('README has no <!-- walkthrough:start --> ... <!-- walkthrough:end --> section');
  return [...part.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
}

function mustFind(pattern: RegExp, text: string, what: string): string {
  const found = pattern.exec(text)?.[1];
  if (!found) throw new Error(`the walkthrough names no ${what} (${pattern})`);
  return found;
}

describe('README walkthrough: boot a virtual machine in a namespace, word for word', function () {
  this.timeout((LOCK_WAIT_S + RUN_LIMIT_S + 60) * 1000);
  const readme = fs.readFileSync(README, 'utf8');

  it('finds the shell blocks between the markers, and none outside a fence', () => {
    expect(
      walkthroughBlocks(
        'a\n<!-- walkthrough:start -->\nx\n```sh\necho 1\n```\ny\n```sh\necho 2\n```\n<!-- walkthrough:end -->\n```sh\nno\n```\n',
      ),
    ).to.deep.equal(['echo 1\n', 'echo 2\n']);
    expect(() => walkthroughBlocks('```sh\necho\n```\n')).to.throw(/no <!-- walkthrough:start -->/);
    expect(walkthroughBlocks(readme).length, 'setup ... clean-up').to.be.at.least(2);
  });

  it('asks a user to install only packages that `make test` installs', () => {
    const install = mustFind(/^sudo apt-get install ([^\n]+)$/m, readme, 'apt-get install line');
    const testPackages = fs
      .readFileSync(path.join(REPO, 'scripts/setup/packages-test.txt'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    for (const pkg of install.split(/\s+/))
      expect(testPackages, `${pkg} in scripts/setup/packages-test.txt`).to.include(pkg);
  });

  it('boots, registers and installs the machine, reinstalls it, forms its cluster, and cleans up', async () => {
    const blocks = walkthroughBlocks(readme);
    const setup = blocks.slice(0, -1).join('\n');
    const cleanup = blocks.at(-1) ?? '';
    expect(cleanup, 'the last block cleans up').to.match(/ip netns del/);
    const ns = mustFind(/^ip netns add (\S+)$/m, setup, 'namespace');
    const serverIp = mustFind(/serverIp: (\S+)/, setup, 'dhcp.serverIp');
    const mac = mustFind(/mac=([0-9a-f:]{17})/, setup, 'machine MAC');
    const base = `http://${serverIp}:${HTTP_PORT}`;

    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-walkthrough-'));
    const seen = path.join(work, 'seen');
    fs.mkdirSync(seen);
    const get = (urlPath: string, file: string) =>
      `ip netns exec ${ns} curl -sS --max-time 10 -o ${seen}/${file} ${base}${urlPath}`;
    const script = [
      'set -e',
      `if ip netns list | grep -qw ${ns}; then echo "namespace ${ns} exists already: not touching it" >&2; exit 97; fi`,
      `leftovers() { for pid in $(ip netns pids ${ns} 2>/dev/null); do kill -9 "$pid"; done; ip netns del ${ns} 2>/dev/null || true; }`,
      "trap leftovers EXIT; trap 'exit 143' TERM INT",
      'set -x',
      setup,
      '# the test reads what homeport knows, over HTTP and with the CLI, before the clean-up',
      get(`/api/status/nodes/${mac}`, 'node.json'),
      get(`/api/status/history/${mac}?order=asc&limit=1000`, 'history.json'),
      `ip netns exec ${ns} bin/homeport jobs ls --json > ${seen}/jobs.json`,
      `ip netns exec ${ns} bin/homeport clusters ls --json > ${seen}/clusters.json`,
      cleanup,
      `ip netns list > ${seen}/namespaces.txt`,
    ].join('\n');
    fs.writeFileSync(path.join(work, 'walkthrough.sh'), script);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HOMEPORT_')));
    try {
      const result = await runProcess(
        'flock',
        [
          '-w',
          String(LOCK_WAIT_S),
          LOCK,
          'timeout',
          '-k',
          '10',
          String(RUN_LIMIT_S),
          'bash',
          path.join(work, 'walkthrough.sh'),
        ],
        { ...env, TMPDIR: work },
        (LOCK_WAIT_S + RUN_LIMIT_S + 30) * 1000,
      );
      const output = `${result.stdout}\n${result.stderr}`;
      expect(result.status, `walkthrough exited ${result.status}:\n${output.slice(-12000)}`).to.equal(0);
      const read = (file: string) => JSON.parse(fs.readFileSync(path.join(seen, file), 'utf8'));

      const node = read('node.json');
      expect(node, 'registered under its imported name, installed, clustered').to.include({
        mac,
        hostname: 'demo1',
        deployment_status: 'deployed',
        phase_status: 'completed',
        reprovision_status: 'clustered',
        netboot_enabled: false,
      });
      expect(node.address, 'its DHCP address from homeport, where its round was bound').to.match(
        new RegExp(`^${serverIp.replace(/\.\d+$/, '').replace(/\./g, '\\.')}\\.1[0-5]\\d$`),
      );
      const phases = (read('history.json').entries as { phase: string }[]).map((e) => e.phase);
      const installs =
        phases.join(' ').match(/dhcp_discover( \S+)*? ipxe_boot config_download( \S+)*? deployed/g) ?? [];
      expect(installs, `two installs, each DHCP → iPXE → config → deployed: ${phases.join(' ')}`).to.have.length(2);
      const jobs = read('jobs.json') as { type: string; status: string }[];
      expect(jobs.map((j) => `${j.type} ${j.status}`).sort()).to.deep.equal([
        'form_cluster completed',
        'import_nodes completed',
        'reprovision completed',
      ]);
      const clusters = read('clusters.json') as { name: string; state: string }[];
      expect(clusters.map((c) => `${c.name} ${c.state}`)).to.deep.equal(['demo formed']);
      expect(output, 'the machine ran its install script').to.contain('homeport-e2e: install script done');
      expect(
        fs.readFileSync(path.join(seen, 'namespaces.txt'), 'utf8'),
        'the clean-up deleted the namespace',
      ).not.to.match(new RegExp(`^${ns}\\b`, 'm'));
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
