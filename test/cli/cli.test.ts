import { expect } from 'chai';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../server/store/db.js';
import { HOMEPORT_BIN, runHomeport, runProcess, startServerProcess } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

describe('homeport CLI', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-cli-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  // No HOMEPORT_CONFIG file: each test passes -c or runs on defaults.
  // INVOCATION_ID: '': not under systemd, whatever runs the suite (under systemd the token is not printed).
  const env = () => ({ HOMEPORT_DATADIR: path.join(dir, 'data'), HOMEPORT_CONFIG: '', INVOCATION_ID: '' });

  it('prints help for every subcommand and exits 0', () => {
    for (const args of [
      ['--help'],
      ['serve', '--help'],
      ['migrate', '--help'],
      ['config', 'check', '--help'],
      ['nodes', 'ls', '--help'],
      ['nodes', 'show', '--help'],
      ['timeline', '--help'],
    ]) {
      const result = runHomeport(args, env());
      expect(result.status, args.join(' ')).to.equal(0);
      expect(result.stdout, args.join(' ')).to.match(/Usage: homeport/);
    }
  });

  it('prints its version (package.json) with --version, and help texts agree with the server', () => {
    const version = (JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string }).version;
    for (const flag of ['--version', '-V']) {
      const result = runHomeport([flag], env());
      expect(result.status, flag).to.equal(0);
      expect(result.stdout, flag).to.equal(`${version}\n`);
    }
    const help = runHomeport(['reprovision', '--help'], env()).stdout.replace(/\s+/g, ' ');
    expect(help).to.include(
      'per-node reprovision timeout on the server (default: its watcher.reprovisionTimeoutMin, 45 unless configured)',
    );
  });

  it('validates a good config file and prints the effective config as JSON', () => {
    const file = path.join(dir, 'homeport.yaml');
    fs.writeFileSync(file, 'http:\n  port: 9090\nlog:\n  level: debug\n');
    const result = runHomeport(['config', 'check', '-c', file, '--json'], env());
    expect(result.status).to.equal(0);
    const parsed = JSON.parse(result.stdout) as { config: { http: { port: number }; log: { level: string } } };
    expect(parsed.config.http.port).to.equal(9090);
    expect(parsed.config.log.level).to.equal('debug');
  });

  const badConfigs: [string, string, RegExp][] = [
    ['a port that is text', 'http:\n  port: "eighty"\n', /http\.port: must be number/],
    ['a port out of range', 'http:\n  port: 70000\n', /http\.port: must be at most 65535/],
    [
      'an unknown log level',
      'log:\n  level: loud\n',
      /log\.level: must be one of fatal, error, warn, info, debug, trace, silent/,
    ],
    ['an unknown key', 'htp:\n  port: 80\n', /^homeport: config file \S+: unknown key htp \(did you mean http\?\)$/m],
    ['a typo in a nested key', 'http:\n  prot: 80\n', /unknown key http\.prot \(did you mean http\.port\?\)/],
    [
      'a database URL that is not postgres',
      'database:\n  url: mysql://x\n',
      /database\.url: must be a postgres:\/\/ URL/,
    ],
    ['a file that is not YAML', 'http: [1, 2\n', /not valid YAML\/JSON/],
  ];
  for (const [name, text, expected] of badConfigs) {
    it(`rejects ${name} with one line naming the key, exit 2`, () => {
      const file = path.join(dir, 'bad.yaml');
      fs.writeFileSync(file, text);
      const result = runHomeport(['config', 'check', '-c', file], env());
      expect(result.status).to.equal(2);
      expect(result.stderr.trim().split('\n')).to.have.length(1);
      expect(result.stderr).to.match(expected);
    });
  }

  it('applies environment overrides and names the variable key on error', () => {
    const result = runHomeport(['config', 'check'], { ...env(), HOMEPORT_HTTP__PORT: '0' });
    expect(result.status).to.equal(2);
    expect(result.stderr).to.match(/http\.port: must be at least 1/);
  });

  // The CLI's and the shell clients' own variables (README: CLI, shell clients) share the HOMEPORT_ prefix with config overrides.
  const clientVariables: Record<string, string> = {
    HOMEPORT_ADMIN_TOKEN: 'x'.repeat(43),
    HOMEPORT_URL: 'http://127.0.0.1:1',
    HOMEPORT_TOKEN: 't',
    HOMEPORT_MAC: '52:54:00:00:00:01',
    HOMEPORT_HOSTNAME: 'pve1',
    HOMEPORT_IP: '192.0.2.1',
    HOMEPORT_CLUSTER: 'lab',
    HOMEPORT_TYPE: 'proxmox',
    HOMEPORT_PROGRESS: '42',
    HOMEPORT_RETRIES: '1',
    HOMEPORT_RETRY_DELAY: '1',
    HOMEPORT_HTTP_CLIENT: 'curl',
    HOMEPORT_VERBOSE: '1',
  };
  for (const [variable, value] of Object.entries(clientVariables)) {
    it(`leaves the config alone when ${variable} is set (a client's variable, not an override)`, () => {
      const check = runHomeport(['config', 'check'], { ...env(), [variable]: value });
      expect(check.stderr).to.equal('');
      expect(check.status).to.equal(0);
      const ls = runHomeport(['nodes', 'ls'], { ...env(), [variable]: value });
      expect(ls.stderr).not.to.match(/unknown key/);
      expect(ls.status).to.equal(0);
    });
  }

  it('talks to the server with the token and URL from HOMEPORT_ADMIN_TOKEN and HOMEPORT_URL', async () => {
    const server = await startServerProcess(env());
    try {
      const token = fs.readFileSync(path.join(dir, 'data', 'admin.token'), 'utf8').trim();
      const result = runHomeport(['jobs', 'ls'], {
        ...env(),
        HOMEPORT_ADMIN_TOKEN: token,
        HOMEPORT_URL: server.baseUrl,
        HOMEPORT_HTTP__PORT: '1',
      });
      expect(result.stderr).to.equal('');
      expect(result.status).to.equal(0);
    } finally {
      await server.stop();
    }
  });

  it('still reads a top-level key from HOMEPORT_<KEY> (HOMEPORT_DATADIR)', () => {
    const result = runHomeport(['config', 'check', '--json'], env());
    expect((JSON.parse(result.stdout) as { config: { dataDir: string } }).config.dataDir).to.equal(
      path.join(dir, 'data'),
    );
  });

  it('blames a wrong override on its variable, not on the config file, and suggests the key', () => {
    const file = path.join(dir, 'homeport.yaml');
    fs.writeFileSync(file, 'http:\n  port: 9090\n');
    const result = runHomeport(['config', 'check', '-c', file], { ...env(), HOMEPORT_HTTP__PROT: '80' });
    expect(result.status).to.equal(2);
    expect(result.stderr.trim()).to.equal(
      'homeport: environment HOMEPORT_HTTP__PROT: unknown key http.prot (did you mean http.port?)',
    );
    const value = runHomeport(['config', 'check', '-c', file], { ...env(), HOMEPORT_LOG: '{"level":"loud"}' });
    expect(value.stderr).to.match(/^homeport: environment HOMEPORT_LOG: log\.level: must be one of/);
  });

  it('serve refuses to start on a bad config with the same one-line error', () => {
    const result = runHomeport(['serve'], { ...env(), HOMEPORT_HTTP__BODYLIMITKB: 'big' });
    expect(result.status).to.equal(2);
    expect(result.stderr).to.match(/http\.bodyLimitKb: must be number/);
  });

  it('migrates, lists no nodes as JSON, and says when a node is not found (exit 3)', () => {
    expect(runHomeport(['migrate'], env()).status).to.equal(0);
    const ls = runHomeport(['nodes', 'ls', '--json'], env());
    expect(ls.status).to.equal(0);
    expect(JSON.parse(ls.stdout)).to.deep.equal([]);
    const show = runHomeport(['nodes', 'show', 'aa:bb:cc:dd:ee:ff'], env());
    expect(show.status).to.equal(3);
    expect(show.stderr).to.match(/no node aa:bb:cc:dd:ee:ff/);
  });

  it('doctor lists nodes that name a missing profile, and refuses groups that do', async () => {
    expect(runHomeport(['migrate'], env()).status).to.equal(0);
    // A node from before profiles were checked at input (or whose profile file went away since).
    const db = openDatabase({
      sqlitePath: path.join(dir, 'data', 'homeport.sqlite'),
      synchronous: 'FULL',
      busyTimeoutMs: 5000,
    });
    await db
      .knex('nodes')
      .insert({ mac: '52:54:00:00:00:01', hostname: 'pve1', profile: 'debain', registered_at: 1, last_update: 1 });
    await db.close();
    const doctorEnv = { ...env(), HOMEPORT_HTTP__PORT: String(await freePort()) };
    const doctor = runHomeport(['doctor', '--json'], doctorEnv, 60_000);
    const results = JSON.parse(doctor.stdout) as { name: string; status: string; detail: string }[];
    expect(results.find((r) => r.name === 'node profiles')).to.deep.include({
      status: 'warn',
      detail: '1 node(s) name a missing profile: pve1 (52:54:00:00:00:01): debain',
    });
    const groups = runHomeport(
      ['doctor', '--json'],
      { ...doctorEnv, HOMEPORT_BOOT__GROUPS: '[{"profile":"debain","match":{"cluster":"lab"}}]' },
      60_000,
    );
    const catalog = (JSON.parse(groups.stdout) as { name: string; status: string; detail: string }[]).find(
      (r) => r.name === 'boot profiles',
    );
    expect(catalog).to.deep.include({ status: 'fail' });
    expect(catalog!.detail).to.match(
      /boot\.groups\.0\.profile: no profile debain \(known: debian, linux-initramfs, proxmox\)/,
    );
  });

  it('nodes show names a node by hostname and lists the nodes when several share it (exit 2)', async () => {
    expect(runHomeport(['migrate'], env()).status).to.equal(0);
    const db = openDatabase({
      sqlitePath: path.join(dir, 'data', 'homeport.sqlite'),
      synchronous: 'FULL',
      busyTimeoutMs: 5000,
    });
    await db.knex('nodes').insert({ mac: '52:54:00:00:00:01', hostname: 'pve1', registered_at: 1, last_update: 1 });
    const shown = runHomeport(['nodes', 'show', 'PVE1'], env()).stdout;
    expect(shown).to.match(/mac\s+52:54:00:00:00:01/);
    // Like every time the CLI shows, and `-` for nothing, as nodes ls does.
    expect(shown)
      .to.match(/^registeredAt\s+1970-01-01 00:00:00Z$/m)
      .and.match(/^ip\s+-$/m);
    expect(shown).not.to.match(/\bnull\b/);
    expect(runHomeport(['nodes', 'ls'], env()).stdout.split('\n')[0]).to.equal(
      'ID\tMAC\tHOSTNAME\tIP\tPROFILE\tCLUSTER\tPHASE\tREPROVISION\tNETBOOT',
    );
    await db.knex('nodes').insert({ mac: '52:54:00:00:00:02', hostname: 'pve1', registered_at: 1, last_update: 1 });
    await db.close();
    const twins = runHomeport(['nodes', 'show', 'pve1'], env());
    expect(twins.status).to.equal(2);
    expect(twins.stderr).to.equal(
      'homeport: pve1 names 2 nodes: 1 (52:54:00:00:00:01), 2 (52:54:00:00:00:02); name one by its id or MAC\n',
    );
  });

  it('names the key and variable that move a port another program holds (EADDRINUSE)', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const result = await runProcess(HOMEPORT_BIN, ['serve'], {
        ...process.env,
        ...env(),
        HOMEPORT_HTTP__HOST: '127.0.0.1',
        HOMEPORT_HTTP__PORT: String(port),
      });
      expect(result.status).to.equal(1);
      // The log's asynchronous lines may follow it.
      expect(result.stderr.split('\n')).to.include(
        `homeport: 127.0.0.1:${port} is in use by another program (\`homeport doctor\` names it); move homeport with http.port (HOMEPORT_HTTP__PORT)`,
      );
    } finally {
      holder.close();
    }
  });

  it('says a URL does not look like homeport instead of printing the HTML that answered', async () => {
    const other = http.createServer((req, res) => {
      res.writeHead(req.url?.startsWith('/api/jobs') ? 404 : 200, { 'content-type': 'text/html' });
      res.end('<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>');
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(other.address() as net.AddressInfo).port}`;
    try {
      const result = await runProcess(HOMEPORT_BIN, ['jobs', 'ls', '--url', url], {
        ...process.env,
        ...env(),
        HOMEPORT_ADMIN_TOKEN: 'x',
      });
      expect(result.status).to.equal(1);
      expect(result.stderr).not.to.include('<html');
      expect(result.stderr).to.match(
        new RegExp(
          `^homeport: GET /api/jobs\\S*: HTTP 404 with text/html, not JSON: ${url} does not look like homeport \\(check --url, \\$HOMEPORT_URL or http\\.port\\)\n$`,
        ),
      );
    } finally {
      other.close();
    }
  });

  it('serves /healthz, prints the generated admin token once (0600 file) and stops cleanly on SIGTERM', async () => {
    const first = await startServerProcess(env());
    const health = await fetch(`${first.baseUrl}/healthz`);
    expect(await health.json()).to.deep.equal({ status: 'ok', database: 'ok' });
    expect(await first.stop('SIGTERM')).to.equal(0);
    const tokenFile = path.join(dir, 'data', 'admin.token');
    const token = fs.readFileSync(tokenFile, 'utf8').trim();
    expect(token).to.have.length.greaterThan(30);
    expect(fs.statSync(tokenFile).mode & 0o777).to.equal(0o600);
    expect(first.stdout()).to.contain(token);
    expect(first.stderr(), 'the token is never logged').not.to.contain(token);

    const second = await startServerProcess(env());
    expect(await second.stop('SIGINT')).to.equal(0);
    expect(second.stdout(), 'printed only on the run that generated it').not.to.contain(token);
  });

  it('answers unknown routes and methods with JSON {error, detail}', async () => {
    const server = await startServerProcess(env());
    try {
      const response = await fetch(`${server.baseUrl}/nope`);
      expect(response.status).to.equal(404);
      expect(await response.json()).to.deep.equal({ error: 'not_found', detail: 'no route for GET /nope' });
      const wrongMethod = await fetch(`${server.baseUrl}/api/status/summary`, { method: 'DELETE' });
      expect(wrongMethod.status).to.equal(405);
      expect(wrongMethod.headers.get('content-type')).to.match(/^application\/json/);
      expect(wrongMethod.headers.get('allow')).to.match(/GET/);
      expect(await wrongMethod.json()).to.deep.equal({
        error: 'method_not_allowed',
        detail: `DELETE is not allowed on /api/status/summary; allowed: ${wrongMethod.headers.get('allow')}`,
      });
    } finally {
      await server.stop();
    }
  });
});

describe('bin/homeport: compiled dist/ or the sources', function () {
  this.timeout(30_000);
  let tree: string;
  const stamp = () => path.join(tree, 'dist/.built');
  /** Which entry point the wrapper ran: each prints its own name. */
  const ran = () =>
    runProcess(path.join(tree, 'bin/homeport'), [], process.env).then((r) => r.stdout.trim() || r.stderr);
  /** Sets a path's modification time, seconds from now. */
  const age = (file: string, seconds: number) => {
    const at = new Date(Date.now() + seconds * 1000);
    fs.utimesSync(path.join(tree, file), at, at);
  };

  beforeEach(() => {
    // A tree shaped like the checkout, with entry points that only say which they are.
    tree = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-bin-'));
    fs.mkdirSync(path.join(tree, 'bin'));
    fs.copyFileSync(HOMEPORT_BIN, path.join(tree, 'bin/homeport'));
    fs.symlinkSync(path.resolve('node_modules'), path.join(tree, 'node_modules'));
    for (const dir of ['server/cli', 'db/migrations', 'dist/server/cli'])
      fs.mkdirSync(path.join(tree, dir), { recursive: true });
    fs.writeFileSync(path.join(tree, 'server/cli/main.ts'), "console.log('sources');\n");
    fs.writeFileSync(path.join(tree, 'db/migrations/001_initial.ts'), '\n');
    fs.writeFileSync(path.join(tree, 'dist/server/cli/main.js'), "console.log('dist');\n");
    for (const file of [
      'server/cli/main.ts',
      'server/cli',
      'server',
      'db/migrations/001_initial.ts',
      'db/migrations',
      'db',
    ])
      age(file, -60);
  });
  afterEach(() => fs.rmSync(tree, { recursive: true, force: true }));

  it('runs the sources when dist/ was never built', async () => {
    expect(await ran()).to.equal('sources');
  });

  it('runs dist/ once built, and the sources again after an edit, a new or a deleted file', async () => {
    fs.writeFileSync(stamp(), '');
    expect(await ran()).to.equal('dist');
    age('server/cli/main.ts', 5);
    expect(await ran(), 'edited source').to.equal('sources');

    age('server/cli/main.ts', -60);
    expect(await ran()).to.equal('dist');
    fs.writeFileSync(path.join(tree, 'server/cli/added.ts'), '\n');
    age('server/cli/added.ts', 5);
    expect(await ran(), 'new source').to.equal('sources');

    fs.rmSync(path.join(tree, 'server/cli/added.ts'));
    age('server/cli', -60);
    expect(await ran()).to.equal('dist');
    fs.rmSync(path.join(tree, 'db/migrations/001_initial.ts'));
    age('db/migrations', 5); // the directory's time moves with the deletion; set it ahead of the stamp on any clock
    expect(await ran(), 'deleted migration').to.equal('sources');
  });

  it('runs dist/ in an installed tree, which has no sources', async () => {
    fs.writeFileSync(stamp(), '');
    fs.rmSync(path.join(tree, 'server'), { recursive: true });
    fs.rmSync(path.join(tree, 'db'), { recursive: true });
    expect(await ran()).to.equal('dist');
  });
});
