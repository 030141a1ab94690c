/**
 * The protocol edges' facts as boot events (pure). The edges (DHCP, TFTP)
 * know nothing of timelines: the composition root hands their callbacks
 * these mappings and BootEvents.record.
 */
import type { DhcpAnswerInfo } from '../dhcp/server.js';
import type { TftpTransferInfo } from '../tftp/server.js';
import { LruMap } from '../util/lru.js';
import type { BootEventInput } from './events.js';

export function dhcpEvent(info: DhcpAnswerInfo): BootEventInput {
  return {
    mac: info.mac,
    source: 'dhcp',
    kind: info.messageType,
    outcome: info.answer.toLowerCase(),
    detail: {
      arch: info.arch,
      vendorClass: info.vendorClass,
      userClass: info.userClasses.join(',') || undefined,
      giaddr: info.giaddr,
      ipxe: info.ipxe,
      file: info.bootFile,
      ip: info.yiaddr,
      reason: info.reason,
    },
  };
}

/** How a TFTP request ended, in the words of the timeline. */
const TFTP_ENDINGS: Record<string, string> = {
  completed: 'complete',
  'timed-out': 'timeout',
  'peer-error': 'client_error',
  aborted: 'aborted',
  not_found: 'not_found',
  access_violation: 'refused',
  bad_mode: 'refused',
  busy: 'busy',
  error: 'error',
};

export function tftpEvent(mac: string, info: TftpTransferInfo): BootEventInput {
  const report = info.report;
  return {
    mac,
    source: 'tftp',
    kind: 'read',
    outcome: TFTP_ENDINGS[info.ended] ?? 'error',
    detail: {
      file: info.file,
      blksize: report?.blksize,
      windowsize: report?.windowsize,
      tsize: report?.size,
      bytes: report?.bytes,
      ms: report ? Math.round(report.seconds * 1000) : undefined,
      retransmits: report?.blocksRetransmitted,
      block: report?.outcome && report.outcome !== 'completed' ? report.ackedBlock : undefined,
    },
  };
}

/** Addresses remembered: a few boot networks' worth; the least recently seen is forgotten first. */
const ADDRESSES = 4_096;

/**
 * Which MAC an address belongs to, learnt from DHCP answers (the address
 * leased, or the one a PXE client asks from) and per-MAC HTTP requests: TFTP
 * and the entry script arrive by address only. In memory and bounded; an
 * address it does not know is not attributed (its events are not recorded).
 */
export class MacsByAddress {
  private readonly macs = new LruMap<string, string>(ADDRESSES);

  learn(address: string | undefined, mac: string): void {
    if (address && address !== '0.0.0.0') this.macs.set(stripV4Mapped(address), mac);
  }

  macOf(address: string): string | undefined {
    return this.macs.get(stripV4Mapped(address));
  }
}

/** Koa gives IPv4 peers as ::ffff:a.b.c.d on a dual-stack socket. */
function stripV4Mapped(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
