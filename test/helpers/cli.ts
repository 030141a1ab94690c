import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from './ports.js';

export const HOMEPORT_BIN = path.resolve('bin/homeport');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunningProcess {
  child: ChildProcess;
  /** What the program has printed so far, for tests that act on a line before the program ends. */
  output(): { stdout: string; stderr: string };
  done: Promise<CliResult>;
}

/** Starts a program without blocking the event loop (a server in this process keeps answering); killed after timeoutMs. */
export function startProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): RunningProcess {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ status: code, stdout, stderr });
    });
  });
  return { child, output: () => ({ stdout, stderr }), done };
}

/** Runs a program to its end without blocking the event loop, bounded in time. */
export function runProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): Promise<CliResult> {
  return startProcess(command, args, env, timeoutMs).done;
}

/** Polls until the running program has printed a line matching `pattern` (bounded), so a test can act after that point. */
export async function waitForOutput(running: RunningProcess, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(running.output().stdout)) {
    if (Date.now() > deadline) throw new Error(`no output matching ${pattern}: ${JSON.stringify(running.output())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function runHomeport(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): CliResult {
  const result = spawnSync(HOMEPORT_BIN, args, {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface ServerProcess {
  child: ChildProcess;
  baseUrl: string;
  port: number;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM, then wait for exit (SIGKILL after the timeout); resolves to the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Starts `homeport serve` as a real process (this checkout's bin/homeport, or another tree's) and waits for /healthz. */
export async function startServerProcess(
  env: NodeJS.ProcessEnv,
  args: string[] = [],
  bin = HOMEPORT_BIN,
): Promise<ServerProcess> {
  const port = env.HOMEPORT_HTTP__PORT ? Number(env.HOMEPORT_HTTP__PORT) : await freePort();
  const child = spawn(bin, ['serve', ...args], {
    env: { ...process.env, HOMEPORT_HTTP__HOST: '127.0.0.1', ...env, HOMEPORT_HTTP__PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const baseUrl = `http://127.0.0.1:${port}`;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`homeport exited ${child.exitCode}:\n${err}`);
    try {
      if ((await fetch(`${baseUrl}/healthz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`homeport did not answer /healthz within 20 s:\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    baseUrl,
    port,
    stdout: () => out,
    stderr: () => err,
    stop: async (signal = 'SIGTERM', timeoutMs = 15_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
