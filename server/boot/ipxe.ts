import { escapeFor, ipxeEchoText } from './escape.js';

/**
 * iPXE scripts. Pure: text in, text out. Written for Debian's iPXE
 * (1.0.0+git-20190125): only long-standing commands (chain --autofree,
 * kernel/initrd --name, iseq, sanboot --no-describe --drive, sleep, exit).
 *
 * The retry loop lives in the entry script: a per-MAC script that cannot
 * boot anything yet (wait, error) ends with `exit 1`, so the entry's `chain`
 * fails and it sleeps and asks again; a per-MAC script that wants the machine
 * to leave iPXE (local disk, deny) ends with `exit 0`, and the entry exits too.
 */
const LABEL_FAILED = 'homeport_failed';

function script(lines: string[]): string {
  return ['#!ipxe', ...lines, ''].join('\n');
}

function echo(text: string): string {
  return `echo ${ipxeEchoText(text)}`;
}

/** Served at /boot.ipxe to any iPXE: chains to this machine's own script. */
export function entryScript(options: { baseUrl: string; retrySeconds: number }): string {
  const base = escapeFor('ipxe', options.baseUrl, 'server base URL');
  return script([
    "# homeport entry script: fetches this machine's own script by MAC; retries while there is nothing to boot.",
    ':homeport_retry',
    'echo homeport: ${net0/mac} (${platform} ${buildarch}) asking for its boot script',
    `chain --autofree ${base}/boot/\${net0/mac:hexhyp}.ipxe?uuid=\${uuid}&arch=\${buildarch}&platform=\${platform} || goto ${LABEL_FAILED}`,
    'exit 0',
    `:${LABEL_FAILED}`,
    echo(`homeport: nothing to boot yet - asking again in ${options.retrySeconds} s (Ctrl-C for a shell)`),
    `sleep ${options.retrySeconds} || shell`,
    'goto homeport_retry',
  ]);
}

export interface BootImage {
  /** Absolute URL, already escaped for iPXE. */
  url: string;
  /** The image name iPXE registers it under (its file name). */
  name: string;
}

export interface InstallScriptInput {
  mac: string;
  profile: string;
  kernel: BootImage;
  initrds: BootImage[];
  /** Kernel arguments, rendered and escaped. */
  args: string;
}

/**
 * Kernel + initrds + boot. Each initrd is also named on the kernel line as
 * `initrd=NAME`: Debian's iPXE on EFI hands an initrd to the kernel only then
 * (without it the kernel panics "Unable to mount root fs"); BIOS ignores it.
 */
export function installScript(input: InstallScriptInput): string {
  const initrdArgs = input.initrds.map((i) => `initrd=${i.name}`);
  const kernelLine = ['kernel', '--name', input.kernel.name, input.kernel.url, ...initrdArgs, input.args.trim()]
    .filter(Boolean)
    .join(' ');
  return script([
    `# homeport: ${input.mac} boots profile ${input.profile}`,
    echo(`homeport: ${input.mac} booting profile ${input.profile}`),
    `${kernelLine} || goto ${LABEL_FAILED}`,
    ...input.initrds.map((i) => `initrd --name ${i.name} ${i.url} || goto ${LABEL_FAILED}`),
    `boot || goto ${LABEL_FAILED}`,
    `:${LABEL_FAILED}`,
    echo(`homeport: booting profile ${input.profile} failed`),
    'exit 1',
  ]);
}

export type LocalBootMethod = 'exit' | 'sanboot';

export interface LocalBootInput {
  mac: string;
  pcbios: LocalBootMethod;
  efi: LocalBootMethod;
  /** BIOS drive number for sanboot, e.g. 0x80 (first hard disk). */
  sanbootDrive: string;
}

function localBootCommand(method: LocalBootMethod, drive: string): string {
  // If sanboot fails, still leave iPXE so the firmware tries its next device.
  return method === 'sanboot'
    ? `sanboot --no-describe --drive ${escapeFor('ipxe', drive, 'sanbootDrive')} || exit 0`
    : 'exit 0';
}

/** Boot-once: an installed node (netboot off) boots its disk. */
export function localBootScript(input: LocalBootInput): string {
  return script([
    `# homeport: ${input.mac} is installed (netboot off): boot the local disk`,
    echo(`homeport: ${input.mac} is installed - booting from the local disk`),
    'iseq ${platform} efi && goto homeport_efi || goto homeport_pcbios',
    ':homeport_pcbios',
    localBootCommand(input.pcbios, input.sanbootDrive),
    'exit 0',
    ':homeport_efi',
    localBootCommand(input.efi, input.sanbootDrive),
    'exit 0',
  ]);
}

/** Nothing to boot yet (a discovered machine waiting for a profile). */
export function waitScript(input: { mac: string; reason: string }): string {
  return script([`# homeport: ${input.mac} waits`, echo(`homeport: ${input.mac} waits - ${input.reason}`), 'exit 1']);
}

/** Unknown machine under `boot.unknown: deny`: leave iPXE for the next boot device. */
export function denyScript(input: { mac: string }): string {
  return script([
    `# homeport: ${input.mac} is not a known machine (boot.unknown: deny)`,
    echo(`homeport: ${input.mac} is not a known machine (boot.unknown is deny) - leaving iPXE`),
    'exit 0',
  ]);
}

/**
 * The node's install round does not let this request have the script (no
 * open round, or another address holds it): nothing is rendered, iPXE says
 * why and leaves for the next boot device.
 */
export function refusedScript(input: { mac: string; reason: string }): string {
  return script([`# homeport: ${input.mac} refused`, echo(`homeport: ${input.mac} - ${input.reason}`), 'exit 0']);
}

/** An error, told to the person at the console; the entry script retries. */
export function errorScript(message: string): string {
  return script(['# homeport: error', echo(`homeport: error - ${message}`), 'exit 1']);
}
