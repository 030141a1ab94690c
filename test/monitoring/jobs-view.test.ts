import { expect } from 'chai';
import {
  buildJobsSection,
  FAILED_JOBS_SHOWN,
  JOB_LOG_LINES,
  jobDetail,
  jobPhase,
  jobRow,
  type JobLists,
  type JobPhase,
} from '../../server/monitoring/jobs-view.js';
import { createRenderer } from '../../server/monitoring/render.js';
import type { Job } from '../../server/store/jobs-repo.js';
import { job, NOW, stage } from './fixtures.js';

const lists = (fields: Partial<JobLists>): JobLists => ({
  running: [],
  pending: [],
  activeTotal: 0,
  paused: [],
  failed: [],
  failedTotal: 0,
  ...fields,
});

const running = job(1, {
  status: 'running',
  attempts: 1,
  stage: 'reinstall',
  percent: 40,
  message: 'pve2 installing',
  cluster: 'lab',
  nodeIds: [1, 2],
  stages: [
    stage('prepare', { state: 'completed', percent: 100, startedAt: NOW - 90_000, endedAt: NOW - 30_000 }),
    stage('reinstall', { state: 'running', percent: 40, message: 'pve2 installing', startedAt: NOW - 30_000 }),
  ],
});

describe('monitoring job view models', () => {
  describe('jobPhase', () => {
    const cases: [string, Partial<Job>, JobPhase][] = [
      ['running', { status: 'running' }, 'running'],
      ['pending and due', { status: 'pending', runAt: NOW }, 'due'],
      ['pending, later', { status: 'pending', runAt: NOW + 60_000 }, 'scheduled'],
      [
        'pending after a stage asked to come back',
        { status: 'pending', runAt: NOW + 60_000, stages: [stage('wait', { state: 'waiting' })] },
        'waiting',
      ],
      ['paused', { status: 'paused' }, 'paused'],
      ['failed', { status: 'failed' }, 'failed'],
      ['completed', { status: 'completed' }, 'completed'],
      ['cancelled', { status: 'cancelled' }, 'cancelled'],
    ];
    for (const [name, fields, expected] of cases)
      it(name, () => expect(jobPhase(job(1, fields), NOW)).to.equal(expected));
  });

  describe('jobRow', () => {
    it('shows the running stage, its place, percent, message and targets', () => {
      expect(jobRow(running, NOW)).to.deep.include({
        href: '/monitoring/jobs/1',
        phase: 'running',
        tone: 'busy',
        stage: 'reinstall',
        step: '2 of 2',
        percent: 40,
        target: 'cluster lab, 2 nodes',
        attempts: '1 of 3',
        busy: true,
        when: '1m ago',
      });
    });
    it('says when a scheduled job runs, clamps an out-of-range percent, and counts attempts without a limit', () => {
      expect(jobRow(job(2, { runAt: NOW + 3_600_000 }), NOW)).to.deep.include({
        phase: 'scheduled',
        when: 'runs in 1h',
        busy: false,
        step: null,
        target: null,
      });
      expect(jobRow(job(3, { status: 'running', percent: 140, maxAttempts: null, attempts: 2 }), NOW)).to.deep.include({
        percent: 100,
        attempts: '2',
      });
      expect(jobRow(job(4, { status: 'failed', error: 'boom', finishedAt: NOW - 300_000 }), NOW)).to.deep.include({
        tone: 'failed',
        error: 'boom',
        when: '5m ago',
      });
    });
  });

  describe('buildJobsSection', () => {
    it('lists running, then waiting, due and scheduled by run time; busy while one moves; counts what it leaves out', () => {
      const section = buildJobsSection(
        lists({
          running: [running],
          pending: [
            job(5, { runAt: NOW + 600_000 }),
            job(4, { runAt: NOW - 1000 }),
            job(3, { runAt: NOW + 60_000, stages: [stage('wait', { state: 'waiting' })] }),
            job(2, { runAt: NOW + 120_000 }),
          ],
          activeTotal: 9,
        }),
        NOW,
      );
      expect(section.active.map((r) => `${r.id}:${r.phase}`)).to.deep.equal([
        '1:running',
        '3:waiting',
        '4:due',
        '2:scheduled',
        '5:scheduled',
      ]);
      expect(section).to.deep.include({ moreActive: 4, busy: true });
    });
    it('is not busy with only scheduled jobs; shows at most the last failures', () => {
      const failed = Array.from({ length: 8 }, (_, i) => job(20 - i, { status: 'failed', error: `e${i}` }));
      const section = buildJobsSection(
        lists({ pending: [job(2, { runAt: NOW + 60_000 })], activeTotal: 1, failed, failedTotal: 30 }),
        NOW,
      );
      expect(section.busy).to.equal(false);
      expect(section.failed.map((r) => r.id))
        .to.have.length(FAILED_JOBS_SHOWN)
        .and.deep.equal([20, 19, 18, 17, 16]);
      expect(section.failedTotal).to.equal(30);
    });
  });

  describe('jobDetail', () => {
    it('shortens an import’s content, keeps the log tail, and cuts a long result', () => {
      const log = Array.from({ length: JOB_LOG_LINES + 5 }, (_, i) => `line ${i}`).join('\n') + '\n';
      const detail = jobDetail(
        job(7, {
          type: 'import_nodes',
          params: { format: 'csv', content: 'x'.repeat(5000) },
          log,
          result: { rows: 'y'.repeat(20_000) },
        }),
        NOW,
      );
      expect(detail.params).to.deep.equal([
        { name: 'format', value: 'csv' },
        { name: 'content', value: '(5000 characters)' },
      ]);
      expect(detail.logTail).to.have.length(JOB_LOG_LINES);
      expect(detail.logTail[0]).to.equal('line 5');
      expect(detail.logTruncated).to.equal(true);
      expect(detail.result).to.match(/… \(\d+ characters\)$/);
    });
    it('times each ended stage', () => {
      expect(jobDetail(running, NOW).stages.map((s) => `${s.name}:${s.state}:${s.took}`)).to.deep.equal([
        'prepare:completed:1m',
        'reinstall:running:null',
      ]);
    });
  });

  describe('templates', () => {
    const renderer = createRenderer();
    it('draws a running job’s progress bar and marks it busy, so the page polls while it moves', () => {
      const html = renderer.fragment('job-live', { detail: jobDetail(running, NOW) });
      expect(html).to.include('<p class="current" data-busy>');
      expect(html).to.include('<progress max="100" value="40">40%</progress>');
      const list = renderer.fragment('list-live', {
        summary: { total: 0, states: [], phases: [] },
        headers: [],
        rows: [],
        clusters: [],
        jobs: buildJobsSection(lists({ running: [running], activeTotal: 1 }), NOW),
      });
      expect(list).to.include('<section class="jobs" aria-label="Jobs" data-busy>');
      expect(list).to.match(
        /reinstall <span class="muted">2 of 2<\/span>\s*<progress max="100" value="40" title="reinstall: 40%">40%<\/progress>/,
      );
    });
    it('draws a 0% bar (0 is not "no progress")', () => {
      expect(
        renderer.fragment('job-live', {
          detail: jobDetail(job(8, { status: 'running', stage: 'prepare', percent: 0 }), NOW),
        }),
      ).to.include('<progress max="100" value="0">0%</progress>');
    });
  });
});
