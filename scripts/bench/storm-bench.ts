/**
 * Boot-storm benchmark: N simulated machines at once do over HTTP what a real
 * boot does after DHCP and TFTP: the entry script, their per-node script, the
 * kernel and initrd it names, their install config, then the installer's
 * phone-home reports ending in deployed. Beside it, in the same run, nginx
 * (one worker, sendfile) serves the same bytes as static files (the scripts
 * as rendered by homeport), so the storm's time has a reference; nginx has
 * no phone-home, so its side ends after the config.
 *
 *   node --import tsx scripts/bench/storm-bench.ts [--machines 200] [--kernel-mib 8] [--initrd-mib 64]
 *
 * Loopback only; every child ended by PID and the temp dir removed, also on
 * Ctrl-C; each machine's steps are bounded by a 5-minute timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startNginx, waitHttp, writeRandomFile } from './static-http.js';

const { values } = parseArgs({
  options: {
    machines: { type: 'string', default: '200' },
    'kernel-mib': { type: 'string', default: '8' },
    'initrd-mib': { type: 'string', default: '64' },
  },
});
const MACHINES = Number(values.machines);
const KERNEL_MIB = Number(values['kernel-mib']);
const INITRD_MIB = Number(values['initrd-mib']);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const PHASES = ['foundation_start', 'image_download', 'installation', 'post_install'];
const STEP_TIMEOUT_MS = 300_000;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-storm-'));
fs.chmodSync(work, 0o755); // nginx workers run as nobody
const children: ChildProcess[] = [];
const cleanup = () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

const mac = (i: number) =>
  `52:54:00:5f:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

/** GET url, reading the body to the end; resolves to its byte count (the text too when asked). */
async function get(url: string, keepText = false): Promise<{ bytes: number; text: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  let bytes = 0;
  const parts: Buffer[] = [];
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    if (keepText) parts.push(Buffer.from(chunk));
  }
  return { bytes, text: keepText ? Buffer.concat(parts).toString('utf8') : '' };
}

/** What a per-node script tells the machine to fetch (the linux-initramfs profile's kernel line). */
function parseScript(script: string): { kernel: string; initrd: string; config: string; token: string } {
  const kernel = /^kernel --name \S+ (\S+)/m.exec(script)?.[1];
  const initrd = /^initrd --name \S+ (\S+)/m.exec(script)?.[1];
  const config = /homeport\.script=(\S+)/.exec(script)?.[1];
  const token = /homeport\.token=(\S+)/.exec(script)?.[1];
  if (!kernel || !initrd || !config || !token) throw new Error(`unexpected per-node script:\n${script}`);
  return { kernel, initrd, config, token };
}

interface Storm {
  seconds: number;
  bytes: number;
  /** Seconds from each machine's start to its last step. */
  perMachine: number[];
}

/** Every machine at once; each runs its steps in order. */
async function storm(steps: (i: number) => Promise<number>): Promise<Storm> {
  const started = performance.now();
  const perMachine: number[] = [];
  const bytes = await Promise.all(
    Array.from({ length: MACHINES }, async (_, i) => {
      const moved = await steps(i);
      perMachine.push((performance.now() - started) / 1000);
      return moved;
    }),
  );
  return {
    seconds: (performance.now() - started) / 1000,
    bytes: bytes.reduce((a, b) => a + b, 0),
    perMachine: perMachine.sort((a, b) => a - b),
  };
}

async function main(): Promise<void> {
  const data = path.join(work, 'data');
  writeRandomFile(path.join(data, 'assets', 'linux', 'vmlinuz'), KERNEL_MIB);
  writeRandomFile(path.join(data, 'assets', 'linux', 'initramfs.gz'), INITRD_MIB);
  const port = await freePort();
  const env = {
    ...process.env,
    HOMEPORT_CONFIG: '',
    HOMEPORT_DATADIR: data,
    HOMEPORT_HTTP__HOST: '127.0.0.1',
    HOMEPORT_HTTP__PORT: String(port),
    HOMEPORT_LOG__LEVEL: 'warn',
    HOMEPORT_WATCHER__ENABLED: 'false',
  };
  children.push(spawn(path.join(ROOT, 'bin/homeport'), ['serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] }));
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/healthz`);
  const admin = {
    authorization: `Bearer ${fs.readFileSync(path.join(data, 'admin.token'), 'utf8').trim()}`,
    'content-type': 'application/json',
  };
  for (let i = 0; i < MACHINES; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, MACHINES - i) }, async (_, k) => {
        const r = await fetch(`${base}/api/nodes`, {
          method: 'POST',
          headers: admin,
          body: JSON.stringify({ mac: mac(i + k), hostname: `storm${i + k}`, profile: 'linux-initramfs' }),
        });
        if (r.status !== 201) throw new Error(`adding ${mac(i + k)}: HTTP ${r.status} ${await r.text()}`);
      }),
    );
  }

  // --- homeport: the whole boot over HTTP, phone-home included.
  const scriptPath = (i: number) => `/boot/${mac(i).replace(/:/g, '-')}.ipxe?uuid=&arch=x86_64&platform=pcbios`;
  const rendered: { script: string; config: string }[] = [];
  const phoneHome = async (token: string, i: number, phase: string, status: string) => {
    const r = await fetch(`${base}/api/status/phase`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-homeport-token': token },
      body: JSON.stringify({ mac: mac(i), phase, status }),
      signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
    });
    if (r.status !== 200) throw new Error(`phase ${phase} of ${mac(i)}: HTTP ${r.status} ${await r.text()}`);
  };
  const hp = await storm(async (i) => {
    let bytes = (await get(`${base}/boot.ipxe`)).bytes;
    const script = await get(base + scriptPath(i), true);
    const urls = parseScript(script.text);
    bytes += script.bytes + (await get(urls.kernel)).bytes + (await get(urls.initrd)).bytes;
    const config = await get(urls.config, true);
    rendered[i] = { script: script.text, config: config.text };
    for (const phase of PHASES)
      for (const status of ['in_progress', 'completed']) await phoneHome(urls.token, i, phase, status);
    await phoneHome(urls.token, i, 'deployed', 'completed');
    return bytes + config.bytes;
  });

  // --- nginx: the same bytes as static files (scripts as homeport rendered them).
  const www = path.join(work, 'www');
  fs.mkdirSync(path.join(www, 'boot'), { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(www, 'boot.ipxe'), (await get(`${base}/boot.ipxe`, true)).text);
  rendered.forEach((r, i) => {
    fs.writeFileSync(path.join(www, 'boot', `${i}.ipxe`), r.script);
    fs.writeFileSync(path.join(www, 'boot', `${i}.sh`), r.config);
  });
  fs.mkdirSync(path.join(www, 'assets', 'linux'), { recursive: true, mode: 0o755 });
  for (const name of ['vmlinuz', 'initramfs.gz'])
    fs.copyFileSync(path.join(data, 'assets', 'linux', name), path.join(www, 'assets', 'linux', name));
  fs.chmodSync(path.join(www, 'boot'), 0o755);
  const ng = await startNginx(work, www, children, '/boot.ipxe');
  const nginx = await storm(async (i) => {
    const steps = [
      '/boot.ipxe',
      `/boot/${i}.ipxe`,
      '/assets/linux/vmlinuz',
      '/assets/linux/initramfs.gz',
      `/boot/${i}.sh`,
    ];
    let bytes = 0;
    for (const step of steps) bytes += (await get(ng + step)).bytes;
    return bytes;
  });

  const deployed = Number(
    ((await (await fetch(`${base}/api/status/summary`)).json()) as { by_phase?: Record<string, number> }).by_phase
      ?.deployed ?? 0,
  );
  const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
  const line = (name: string, s: Storm) =>
    `${name.padEnd(9)} ${s.seconds.toFixed(1).padStart(6)} s  ${(s.bytes / 1048576 / s.seconds).toFixed(0).padStart(6)} MiB/s  machine done p50 ${pct(s.perMachine, 50).toFixed(1)} s, p99 ${pct(s.perMachine, 99).toFixed(1)} s`;
  console.log(`${MACHINES} machines, kernel ${KERNEL_MIB} MiB + initrd ${INITRD_MIB} MiB each, all at once`);
  console.log(
    line('homeport', hp) +
      `  (+ ${PHASES.length * 2 + 1} phone-home reports each; ${deployed} of ${MACHINES} deployed)`,
  );
  console.log(line('nginx', nginx) + '  (static copies, no phone-home)');
  console.log(
    `storm time ratio nginx/homeport: ${(nginx.seconds / hp.seconds).toFixed(2)}; load average ${os.loadavg()[0]!.toFixed(2)}`,
  );
  if (deployed !== MACHINES) process.exitCode = 1;
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
