/**
 * Network namespaces for tests that run DHCP, TFTP or whole machines.
 *
 * A Lab is one "switch" namespace holding a bridge (br0) with an address, plus
 * any number of "host" namespaces wired to the bridge by veth pairs, plus tap
 * devices on the bridge for QEMU. Nothing is created in the root namespace:
 * every link is created inside a namespace (`ip -n NS ...`). Names are unique
 * per run (hp-<pid>-<n>). destroy() kills every process started through the lab
 * (by PID, then whatever is still inside the lab's namespaces, which only we
 * started) and deletes the namespaces; call it from an after hook or finally.
 *
 *   const lab = await createLab({ subnet: '10.77.1' });   // br0 = 10.77.1.1/24
 *   const client = await lab.addHost('client');            // eth0 in its own namespace, no address
 *   const server = await lab.addHost('srv', { address: '10.77.1.2' });
 *   const tap = await lab.addTap();                        // tap0 on br0, for -netdev tap,ifname=tap0
 *   await lab.exec(lab.ns, 'ip', ['addr']);
 *   const child = lab.spawn(client.ns, 'udhcpc', [...]);
 *   await lab.destroy();
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface LabHost {
  /** Namespace name, for `ip netns exec`. */
  ns: string;
  /** The host's interface (veth end) inside its namespace. */
  ifname: string;
  /** The host's address, when one was given. */
  address?: string;
  mac: string;
}

export interface LabOptions {
  /** First three octets of a private /24, e.g. '10.77.1'. The bridge gets .1. */
  subnet: string;
  /** Prefix length of the bridge address; 24 by default. */
  prefix?: number;
}

export interface Lab {
  /** The switch namespace (bridge br0 lives here). */
  ns: string;
  bridge: 'br0';
  bridgeAddress: string;
  prefix: number;
  addHost(label: string, opts?: { address?: string; mac?: string }): Promise<LabHost>;
  addTap(): Promise<string>;
  exec(ns: string, command: string, args: string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Starts a long-running process in a namespace; it is killed by destroy() if still running. */
  spawn(ns: string, command: string, args: string[], opts?: SpawnOptions): ChildProcess;
  destroy(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
let labCounter = 0;

/** Runs a command (no shell), bounded in time; never rejects. */
export function run(command: string, args: string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Like run(), but throws with the command's stderr on a non-zero exit. */
export async function runOk(command: string, args: string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string> {
  const result = await run(command, args, timeoutMs);
  if (result.code !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
  return result.stdout;
}

export async function createLab(opts: LabOptions): Promise<Lab> {
  const id = `hp-${process.pid}-${++labCounter}`;
  const prefix = opts.prefix ?? 24;
  const namespaces: string[] = [];
  const children: ChildProcess[] = [];
  let hostCount = 0;
  let tapCount = 0;

  const addNamespace = async (name: string): Promise<string> => {
    await runOk('ip', ['netns', 'add', name]);
    namespaces.push(name);
    await runOk('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  };

  const lab: Lab = {
    ns: id,
    bridge: 'br0',
    bridgeAddress: `${opts.subnet}.1`,
    prefix,

    async addHost(label, hostOpts = {}) {
      const index = ++hostCount;
      const ns = await addNamespace(`${id}-${label}`);
      const outer = `veth${index}`;
      // Created inside the switch namespace, the peer moved straight into the host namespace.
      await runOk('ip', ['-n', id, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await runOk('ip', ['-n', id, 'link', 'set', outer, 'master', 'br0', 'up']);
      if (hostOpts.mac) await runOk('ip', ['-n', ns, 'link', 'set', 'eth0', 'address', hostOpts.mac]);
      await runOk('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      if (hostOpts.address)
        await runOk('ip', ['-n', ns, 'addr', 'add', `${hostOpts.address}/${prefix}`, 'dev', 'eth0']);
      const mac = (await runOk('ip', ['-n', ns, '-br', 'link', 'show', 'eth0'])).trim().split(/\s+/)[2] ?? '';
      return { ns, ifname: 'eth0', address: hostOpts.address, mac };
    },

    async addTap() {
      const tap = `tap${tapCount++}`;
      await runOk('ip', ['-n', id, 'tuntap', 'add', tap, 'mode', 'tap']);
      await runOk('ip', ['-n', id, 'link', 'set', tap, 'master', 'br0', 'up']);
      return tap;
    },

    exec(ns, command, args, execOpts = {}) {
      return run('ip', ['netns', 'exec', ns, command, ...args], execOpts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    },

    spawn(ns, command, args, spawnOpts = {}) {
      // `ip netns exec` execs the command, so the child's PID is the command's own.
      const child = spawn('ip', ['netns', 'exec', ns, command, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        ...spawnOpts,
      });
      children.push(child);
      return child;
    },

    async destroy() {
      for (const child of children) await stopChild(child);
      for (const ns of namespaces) await killNamespaceProcesses(ns);
      for (const ns of [...namespaces].reverse()) await run('ip', ['netns', 'del', ns]);
      namespaces.length = 0;
    },
  };

  try {
    await addNamespace(id);
    await runOk('ip', ['-n', id, 'link', 'add', 'br0', 'type', 'bridge']);
    // No STP delay: ports forward at once, so the first DHCP broadcast is not lost.
    await runOk('ip', ['-n', id, 'link', 'set', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
    await runOk('ip', ['-n', id, 'addr', 'add', `${lab.bridgeAddress}/${prefix}`, 'dev', 'br0']);
    await runOk('ip', ['-n', id, 'link', 'set', 'br0', 'up']);
  } catch (err) {
    await lab.destroy();
    throw err;
  }
  return lab;
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone (bounded). */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await Promise.race([exited, sleep(graceMs + 2000)]);
  clearTimeout(timer);
}

/** Leftovers (a daemonised client, say) inside a namespace the lab created: only ours can be there. */
async function killNamespaceProcesses(ns: string): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'pids', ns]);
  for (const pid of stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with the first line of a child's stdout that matches, or rejects after timeoutMs. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const line = seen.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) finish(() => resolve(line));
    };
    const onExit = (code: number | null) =>
      finish(() => reject(new Error(`process exited (${code}) before ${pattern}: ${seen}`)));
    const timer = setTimeout(
      () => finish(() => reject(new Error(`timed out waiting for ${pattern}; output: ${seen}`))),
      timeoutMs,
    );
    const finish = (done: () => void) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      done();
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}
