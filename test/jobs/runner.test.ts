import { expect } from 'chai';
import pino from 'pino';
import { z } from 'zod';
import { JobRunner } from '../../server/jobs/runner.js';
import { JobPaused, type JobType } from '../../server/jobs/types.js';
import { maskSecrets } from '../../server/ssh/mask.js';
import type { Database } from '../../server/store/db.js';
import { JOB_LOG_LIMIT, JobsRepo } from '../../server/store/jobs-repo.js';
import { freshDatabase } from '../helpers/databases.js';

const SECRET = 'hp-admin-0123456789abcdef';

/** The runner's own rules, with job types made for the test, on a real SQLite database. */
describe('job runner: log bounds, masking, pause', () => {
  let db: Database;
  let repo: JobsRepo;
  beforeEach(async () => {
    db = await freshDatabase('sqlite');
    repo = new JobsRepo(db.knex);
  });
  afterEach(async () => db.close());

  const runner = (types: JobType[]) =>
    new JobRunner({
      jobs: repo,
      types,
      workerId: 'test',
      clock: Date.now,
      log: pino({ level: 'silent' }),
      leaseMs: 10_000,
      retryDelay: { baseDelayMs: 10, maxDelayMs: 10 },
      mask: (t) => maskSecrets(t, [SECRET]),
    });
  const params = z.object({}).strict();

  it('masks secrets in the console log and the error, and keeps only the newest 64 KiB of log', async () => {
    const leaky: JobType = {
      type: 'leaky',
      params,
      stages: () => ['talk'],
      maxAttempts: 1,
      run: async (_p, ctx) => {
        await ctx.stage('talk', async () => {
          for (let i = 0; i < 2000; i++) ctx.log(`line ${i}: token ${SECRET} ${'x'.repeat(40)}`);
          throw new Error(`remote said: bad token ${SECRET}`);
        });
      },
    };
    const { job } = await repo.enqueue({ type: 'leaky', stages: ['talk'] }, Date.now());
    await runner([leaky]).drain();
    const ended = (await repo.byId(job.id))!;
    expect(ended.status).to.equal('failed');
    expect(ended.error).to.equal('remote said: bad token ****');
    expect(ended.stages[0]).to.deep.include({ name: 'talk', state: 'failed', message: 'remote said: bad token ****' });
    expect(ended.log).not.to.include(SECRET);
    expect(ended.log.length).to.be.at.most(JOB_LOG_LIMIT);
    expect(ended.log).to.include('line 1999: token ****');
    expect(ended.log, 'the oldest lines gave way').not.to.include('line 0: ');
  });

  it('pauses with the reason, resumes on retry after the completed stage, and a failure with attempts left is retried later', async () => {
    let runs = 0;
    let firstRuns = 0;
    const flaky: JobType = {
      type: 'flaky',
      params,
      stages: () => ['first', 'second'],
      maxAttempts: 2,
      run: async (_p, ctx) => {
        runs++;
        await ctx.stage('first', async () => void firstRuns++);
        await ctx.stage('second', async () => {
          if (runs === 1) throw new JobPaused('waiting for an admin');
          if (runs === 2) throw new Error('transient');
        });
        return { runs };
      },
    };
    const { job } = await repo.enqueue({ type: 'flaky' }, Date.now());
    const r = runner([flaky]);
    await r.drain();
    expect(await repo.byId(job.id)).to.deep.include({ status: 'paused', error: 'waiting for an admin' });
    expect(await repo.retry(job.id, Date.now())).to.equal(true);
    await r.drain();
    const retrying = (await repo.byId(job.id))!;
    expect(retrying).to.deep.include({ status: 'pending', error: 'transient', attempts: 1 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    await r.drain();
    const done = (await repo.byId(job.id))!;
    expect(done).to.deep.include({ status: 'completed', attempts: 2, percent: 100 });
    expect(done.result).to.deep.equal({ runs: 3 });
    expect(firstRuns, 'the completed stage ran once').to.equal(1);
    expect(done.stages.map((s) => `${s.name}:${s.state}`)).to.deep.equal(['first:completed', 'second:completed']);
  });
});
