import { execFile } from 'node:child_process';
import type { ClusterSettings } from './config.js';
import { FormationError, type ClusterDriver, type FormContext, type FormResult } from './driver.js';

/**
 * A site's own tooling: a local executable run with CLUSTER (the name) and
 * NODES (JSON: [{id, mac, hostname, ip, clustered}], the first one first)
 * in its environment. Exit 0 is success; it must be safe to run again.
 */
export function scriptDriver(settings: ClusterSettings): ClusterDriver {
  return {
    name: 'script',
    readinessPorts: settings.readinessPorts ?? [],
    form: (ctx) => runScript(settings.script!, settings.stepTimeoutMs, ctx),
  };
}

function runScript(script: string, timeoutMs: number, ctx: FormContext): Promise<FormResult> {
  const env = { ...process.env, CLUSTER: ctx.cluster, NODES: JSON.stringify(ctx.members) };
  return new Promise((resolve, reject) => {
    void ctx.progress(`run ${script}`, 0);
    execFile(
      script,
      [],
      { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024, signal: ctx.signal },
      (err, stdout, stderr) => {
        if (!err) return resolve({ steps: [`${script}: ok${lastLine(stdout) ? ` (${lastLine(stdout)})` : ''}`] });
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
        const why = e.killed
          ? `did not finish within ${timeoutMs} ms`
          : typeof e.code === 'number'
            ? `exited ${e.code}`
            : `could not run (${e.code ?? e.message})`;
        const detail = lastLine(stderr) || lastLine(stdout);
        reject(new FormationError('script', `${script} ${why}${detail ? `: ${detail}` : ''}`));
      },
    );
  });
}

function lastLine(text: string): string {
  return (text.trim().split('\n').pop() ?? '').slice(0, 300);
}
