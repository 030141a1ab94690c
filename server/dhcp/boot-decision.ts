/**
 * What a network-booting client is told to load (pure).
 *
 * Chainloading: firmware PXE (BIOS or UEFI) gets an iPXE binary over TFTP;
 * once iPXE runs it asks again, says so (user class "iPXE" or option 175),
 * and gets the HTTP entry script instead. UEFI HTTP boot (arch 16/19,
 * vendor class HTTPClient) gets an iPXE EFI binary by HTTP URL directly.
 */
import type { ClientRequest } from './codec.js';

/** RFC 4578 / IANA processor architecture types (option 93). */
export const Arch = {
  BIOS: 0,
  EFI_IA32: 6,
  EFI_X64: 7,
  EFI_BC: 9,
  EFI_ARM64: 11,
  EFI_X64_HTTP: 16,
  EFI_ARM64_HTTP: 19,
} as const;

/** Boot file per client architecture; TFTP paths, or HTTP paths for the HTTP-boot arches. */
export type BootFiles = Record<number, string>;

export const DEFAULT_BOOT_FILES: BootFiles = {
  [Arch.BIOS]: 'undionly.kpxe',
  [Arch.EFI_IA32]: 'ipxe-i386.efi',
  [Arch.EFI_X64]: 'snponly.efi', // Debian's snponly.efi works with OVMF; 'ipxe.efi' carries its own drivers
  [Arch.EFI_BC]: 'snponly.efi',
  [Arch.EFI_ARM64]: 'ipxe-arm64.efi',
  // Debian's ipxe.efi is a symlink into /boot, which path confinement refuses; snponly.efi is a plain file.
  [Arch.EFI_X64_HTTP]: 'snponly.efi',
  [Arch.EFI_ARM64_HTTP]: 'ipxe-arm64.efi',
};

const HTTP_BOOT_ARCHES: ReadonlySet<number> = new Set([Arch.EFI_X64_HTTP, Arch.EFI_ARM64_HTTP]);

export interface BootSettings {
  /** e.g. http://10.77.1.1:8080, no trailing slash. */
  httpBaseUrl: string;
  /** Where firmware fetches TFTP boot files (siaddr). */
  tftpServerIp: string;
  /** Path under httpBaseUrl where HTTP-boot clients find EFI binaries. */
  httpBootPath?: string;
  bootFiles: BootFiles;
}

export type BootAnswer =
  | { kind: 'none'; reason: string }
  /**
   * iPXE already running: hand it the HTTP entry script. nextServer is set
   * too: iPXE ignores a ProxyDHCP answer without siaddr and a boot file.
   */
  | { kind: 'ipxe-script'; bootFile: string; nextServer: string; vendorClass: 'PXEClient' }
  /** Firmware PXE: load an iPXE binary from TFTP at nextServer. */
  | { kind: 'tftp'; bootFile: string; nextServer: string; vendorClass: 'PXEClient' }
  /** UEFI HTTP boot: the file is a URL, and HTTPClient must be echoed in option 60. */
  | { kind: 'http'; bootFile: string; vendorClass: 'HTTPClient' };

export const IPXE_SCRIPT_PATH = '/boot.ipxe';

export function decideBoot(request: ClientRequest, settings: BootSettings): BootAnswer {
  const vendor = request.vendorClass ?? '';
  const isPxe = vendor.startsWith('PXEClient');
  const isHttpClient = vendor.startsWith('HTTPClient');
  if (isIpxe(request)) {
    return {
      kind: 'ipxe-script',
      bootFile: `${settings.httpBaseUrl}${IPXE_SCRIPT_PATH}`,
      nextServer: settings.tftpServerIp,
      vendorClass: 'PXEClient',
    };
  }
  if (!isPxe && !isHttpClient) return { kind: 'none', reason: 'not a network-boot client' };

  const arch = request.arch ?? archFromVendorClass(vendor) ?? Arch.BIOS;
  const file = settings.bootFiles[arch];
  if (file === undefined) return { kind: 'none', reason: `no boot file configured for arch ${arch}` };

  if (isHttpClient || HTTP_BOOT_ARCHES.has(arch)) {
    const path = settings.httpBootPath ?? '/ipxe';
    return { kind: 'http', bootFile: `${settings.httpBaseUrl}${path}/${file}`, vendorClass: 'HTTPClient' };
  }
  return { kind: 'tftp', bootFile: file, nextServer: settings.tftpServerIp, vendorClass: 'PXEClient' };
}

export function isIpxe(request: ClientRequest): boolean {
  return request.ipxeOptions || request.userClasses.includes('iPXE');
}

/** True for the clients a proxyDHCP server answers: PXE and HTTP boot firmware, and iPXE. */
export function isNetbootClient(request: ClientRequest): boolean {
  const vendor = request.vendorClass ?? '';
  return vendor.startsWith('PXEClient') || vendor.startsWith('HTTPClient') || isIpxe(request);
}

/** "PXEClient:Arch:00007:UNDI:003016" carries the arch when option 93 is missing. */
function archFromVendorClass(vendor: string): number | undefined {
  const match = /:Arch:(\d{5})/.exec(vendor);
  return match ? Number(match[1]) : undefined;
}
