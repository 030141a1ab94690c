/** The jobs the status page lists, read through the jobs service. */
import type { JobsService } from '../jobs/service.js';
import { ACTIVE_JOBS_SHOWN, FAILED_JOBS_SHOWN, type JobLists } from './jobs-view.js';

/** The jobs the status page lists: everything unfinished, the paused, the latest failures. */
export async function listJobsForPage(jobs: Pick<JobsService, 'list'>): Promise<JobLists> {
  const [running, pending, paused, failed] = await Promise.all([
    jobs.list({ status: 'running', limit: ACTIVE_JOBS_SHOWN }),
    jobs.list({ status: 'pending', limit: ACTIVE_JOBS_SHOWN }),
    jobs.list({ status: 'paused', limit: ACTIVE_JOBS_SHOWN }),
    jobs.list({ status: 'failed', limit: FAILED_JOBS_SHOWN }),
  ]);
  return {
    running: running.jobs,
    pending: pending.jobs,
    activeTotal: running.total + pending.total,
    paused: paused.jobs,
    failed: failed.jobs,
    failedTotal: failed.total,
  };
}
