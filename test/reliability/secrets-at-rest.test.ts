import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ClusterEvent } from '../../server/cluster/service.js';
import type { NodeEvent } from '../../server/nodes/service.js';
import { startWebhooks } from '../../server/webhooks/delivery.js';
import { captureLogger } from '../helpers/capture-log.js';
import { HOMEPORT_BIN, runProcess, startServerProcess } from '../helpers/cli.js';
import { startTestHomeport } from '../helpers/homeport.js';
import { freePort } from '../helpers/ports.js';

/**
 * Secrets at rest and in logs (issue 17): a secret file that makes every
 * token guessable stops the start; webhook URLs (the credential, for Slack
 * and Discord) never reach the log; /healthz tells an anonymous caller only
 * that the database failed; under systemd the generated admin token goes to
 * its file and the journal only learns where.
 */
describe('secrets at rest and in logs', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-rest-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const env = (extra: Record<string, string> = {}) => ({
    ...process.env,
    INVOCATION_ID: '',
    HOMEPORT_DATADIR: path.join(dir, 'data'),
    HOMEPORT_HTTP__HOST: '127.0.0.1',
    ...extra,
  });

  for (const [what, file, content] of [
    ['an empty secret file', 'secret', ''],
    ['a secret file with 8 characters', 'secret', 'abcdefgh\n'],
    ['an empty admin token file', 'admin.token', '\n'],
  ] as const) {
    it(`${what} stops \`homeport serve\` with an error naming the file, before any database is created`, async () => {
      fs.mkdirSync(path.join(dir, 'data'));
      fs.writeFileSync(path.join(dir, 'data', file), content, { mode: 0o600 });
      const result = await runProcess(HOMEPORT_BIN, ['serve'], env({ HOMEPORT_HTTP__PORT: String(await freePort()) }));
      expect(result.status).not.to.equal(0);
      expect(result.stderr + result.stdout)
        .to.contain(path.join(dir, 'data', file))
        .and.match(/at least 16/);
      expect(fs.existsSync(path.join(dir, 'data', 'homeport.sqlite')), 'no database').to.equal(false);
      expect(fs.readFileSync(path.join(dir, 'data', file), 'utf8'), 'the file is left as it was').to.equal(content);
    });
  }

  it('under systemd (INVOCATION_ID set) the generated admin token is written to its file and only its path is printed or logged', async () => {
    const server = await startServerProcess(env({ INVOCATION_ID: '0123456789abcdef0123456789abcdef' }));
    await server.stop('SIGTERM');
    const tokenFile = path.join(dir, 'data', 'admin.token');
    const token = fs.readFileSync(tokenFile, 'utf8').trim();
    expect(token).to.have.length.greaterThan(30);
    expect(fs.statSync(tokenFile).mode & 0o777).to.equal(0o600);
    expect(server.stdout() + server.stderr(), 'the token is nowhere in the output').not.to.contain(token);
    expect(server.stderr()).to.contain(tokenFile);
  });

  it('/healthz answers `database: error` to an anonymous caller; the reason goes to the log only', async () => {
    const hp = await startTestHomeport();
    try {
      await hp.homeport.db.knex.destroy(); // the database goes away under a running server
      const response = await fetch(`${hp.baseUrl}/healthz`);
      expect(response.status).to.equal(503);
      expect(await response.json()).to.deep.equal({ status: 'unhealthy', database: 'error' });
    } finally {
      await hp.stop().catch(() => fs.rmSync(hp.dataDir, { recursive: true, force: true }));
    }
  });

  it('webhook URLs are logged without userinfo, path or query', async () => {
    const receiver = http.createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    const captured = captureLogger();
    const nodeEvents = new EventEmitter<{ change: [NodeEvent] }>();
    const url = `http://hookuser:hookpass@127.0.0.1:${port}/services/T0SECRET/B0SECRET/XXXXSECRET?token=querysecret`;
    const webhooks = startWebhooks({
      targets: [{ url }],
      nodeEvents,
      clusterEvents: new EventEmitter<{ change: [ClusterEvent] }>(),
      log: captured.log,
      attempts: 1,
    });
    try {
      const node = {
        id: 1,
        mac: '52:54:00:00:00:01',
        hostname: 'n1',
        deploymentStatus: 'installation',
        deploymentPhaseStatus: 'in_progress',
      };
      nodeEvents.emit('change', {
        type: 'phase',
        node,
        entry: {
          id: 1,
          nodeId: 1,
          phase: 'installation',
          status: 'in_progress',
          message: null,
          progress: null,
          source: 'installer',
          sourceIp: null,
          applied: true,
          at: 0,
        },
      } as unknown as NodeEvent);
      // Node's fetch refuses a URL with userinfo outright, so this one ends in "not delivered"; either way it is logged.
      await captured.waitFor(/webhook (refused|not delivered)/);
      const logged = captured.text();
      expect(logged).to.contain(`http://127.0.0.1:${port}/`);
      for (const secret of ['hookuser', 'hookpass', 'SECRET', 'querysecret', '/services'])
        expect(logged, secret).not.to.contain(secret);
    } finally {
      await webhooks.close(100);
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});
