import crypto from 'node:crypto';
import { LruMap } from '../util/lru.js';
import { safeEqual } from './tokens.js';

/**
 * Install rounds (pure, apart from the nonce's randomness): what a node's
 * phone-home token is, when it is valid and from where. See DESIGN.md's
 * trust model: the boot network is not trusted, so a token is good for one
 * round only, and a round is bound to the address that first used it.
 *
 * A round opens when a node is reprovisioned, added by an admin or
 * discovered, and closes when the node reports deployed (after a grace, for
 * installers that report after their last boot) or failed, or when a new
 * round replaces it.
 */
export const BIND_SOURCES = ['first-use', 'lease', 'off'] as const;
export type BindSource = (typeof BIND_SOURCES)[number];

export interface RoundPolicy {
  secret: string;
  /**
   * first-use: the round's first secret-bearing call binds it to its source
   * address; lease: the address homeport's DHCP leased to the MAC (full
   * mode); off: any address (NAT'd networks).
   */
  bindSource: BindSource;
  /** How long a deployed node's round stays open for late reports. */
  graceMs: number;
  /** auth.openPhoneHome: no token needed (trusted labs); rounds still gate configs. */
  openPhoneHome: boolean;
}

/** The round columns of a node. */
export interface RoundState {
  mac: string;
  roundNonce: string | null;
  roundOpenedAt: number | null;
  roundClosesAt: number | null;
  roundBoundIp: string | null;
}

export type RoundFields = Omit<RoundState, 'mac'>;

export function newRoundNonce(): string {
  return crypto.randomBytes(18).toString('base64url');
}

/** The fields of a fresh round: a new nonce (every older token dies), unbound. */
export function openRound(now: number, nonce: string = newRoundNonce()): RoundFields {
  return { roundNonce: nonce, roundOpenedAt: now, roundClosesAt: null, roundBoundIp: null };
}

/**
 * The node fields that bind its round to an address (none for null): the
 * address is also where homeport saw the node, what it connects to when no
 * admin set an ip (nodes/address.ts).
 */
export function bindFields(address: string | null): { roundBoundIp?: string; observedIp?: string } {
  return address === null ? {} : { roundBoundIp: address, observedIp: address };
}

export function isRoundOpen(node: RoundState, now: number): boolean {
  return node.roundNonce !== null && (node.roundClosesAt === null || now < node.roundClosesAt);
}

/**
 * When the round closes after a report: a report that ends the install
 * (deployed, or failed) closes it after the grace, for installers that report
 * after their last boot or clean up after a failure; a later report never
 * extends it. Otherwise the round stays as it is.
 */
export function roundClosesAfter(endsInstall: boolean, node: RoundState, now: number, graceMs: number): number | null {
  if (!endsInstall) return node.roundClosesAt;
  const closes = now + graceMs;
  return node.roundClosesAt === null ? closes : Math.min(node.roundClosesAt, closes);
}

/**
 * The round's token: HMAC(secret, mac, nonce). The database holds the nonce,
 * the server the secret; neither alone gives a token.
 */
export function roundToken(secret: string, mac: string, nonce: string): string {
  // Every phone-home call checks one: the HMAC was ~5% of a report's server
  // CPU (make bench-phase). Keyed by secret too, so a rotated secret never
  // answers with an old token.
  return tokens.getOrSet(`${secret}\n${mac}\n${nonce}`, () =>
    crypto.createHmac('sha256', secret).update(`round:${mac}:${nonce}`).digest('base64url').slice(0, 32),
  );
}

/** Bounded: a fleet's worth of rounds, whatever is presented. */
const tokens = new LruMap<string, string>(10_000);

export type RoundVerdict =
  /** Allowed; `bind` is the address to bind the round to now (first use), else null. */
  { ok: true; bind: string | null } | { ok: false; reason: string };

/** The caller of a secret-bearing request: its source address and, in full DHCP mode, the MAC's lease. */
export interface RoundCaller {
  sourceIp: string;
  leaseIp?: string | null;
}

/** May this caller get the round's secrets (configs, per-node script) or phone home? */
export function checkRoundAddress(
  policy: Pick<RoundPolicy, 'bindSource'>,
  node: RoundState,
  caller: RoundCaller,
  now: number,
): RoundVerdict {
  if (!isRoundOpen(node, now)) return { ok: false, reason: closedReason(node) };
  const source = plainAddress(caller.sourceIp);
  if (policy.bindSource === 'off') return { ok: true, bind: null };
  if (policy.bindSource === 'lease') {
    if (!caller.leaseIp) return { ok: false, reason: `no DHCP lease for ${node.mac} (auth.bindSource is lease)` };
    if (caller.leaseIp !== source)
      return { ok: false, reason: `${node.mac} holds the lease ${caller.leaseIp}; the request came from ${source}` };
    return { ok: true, bind: node.roundBoundIp === source ? null : source };
  }
  if (node.roundBoundIp === null) return { ok: true, bind: source };
  if (node.roundBoundIp !== source)
    return {
      ok: false,
      reason: `${node.mac}'s install round is bound to ${node.roundBoundIp}; the request came from ${source}`,
    };
  return { ok: true, bind: null };
}

/** A phone-home call: the round's token, then the address. */
export function checkPhoneHome(
  policy: RoundPolicy,
  node: RoundState,
  presented: string | null,
  caller: RoundCaller,
  now: number,
): RoundVerdict {
  if (!policy.openPhoneHome) {
    if (!presented)
      return {
        ok: false,
        reason: `phone-home call for ${node.mac}: send the round token in X-Homeport-Token or a token field`,
      };
    if (!isRoundOpen(node, now)) return { ok: false, reason: closedReason(node) };
    if (!safeEqual(presented, roundToken(policy.secret, node.mac, node.roundNonce!)))
      return { ok: false, reason: `token for ${node.mac} is wrong or from another install round` };
  } else if (!isRoundOpen(node, now)) {
    // Trusted labs skip the token, but a closed round still takes no reports.
    return { ok: false, reason: closedReason(node) };
  }
  return checkRoundAddress(policy, node, caller, now);
}

function closedReason(node: RoundState): string {
  return node.roundNonce === null
    ? `${node.mac} has no open install round (reprovision it)`
    : `${node.mac}'s install round is closed (reprovision it to open a new one)`;
}

/** `::ffff:10.0.0.5` (an IPv4 client on a dual-stack socket) is 10.0.0.5. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}
