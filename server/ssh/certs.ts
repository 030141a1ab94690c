import crypto from 'node:crypto';

/**
 * OpenSSH host certificates (PROTOCOL.certkeys), parsed and checked here
 * (pure: no I/O), so known_hosts' @cert-authority lines mean what they mean
 * to OpenSSH although ssh2 never negotiates a certificate: the certificate is
 * fetched beside the connection (ssh-keyscan -c) and accepted only if a
 * listed CA signed it, it is a host certificate valid now for the name
 * homeport connects to, and the key it certifies is the very key the SSH
 * session proved possession of. A certificate is a public document; where it
 * came from does not matter, what it binds does.
 */

/** Reads SSH wire types (RFC 4251 §5). Throws on truncation. */
class WireReader {
  private offset = 0;
  constructor(private readonly buffer: Buffer) {}

  get position(): number {
    return this.offset;
  }

  get done(): boolean {
    return this.offset === this.buffer.length;
  }

  uint32(): number {
    this.need(4);
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  uint64(): bigint {
    this.need(8);
    const value = this.buffer.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  string(): Buffer {
    const length = this.uint32();
    this.need(length);
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  text(): string {
    return this.string().toString('utf8');
  }

  private need(n: number): void {
    if (this.offset + n > this.buffer.length) throw new Error('truncated certificate');
  }
}

const sshString = (value: Buffer | string): Buffer => {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
};

export interface HostCertificate {
  /** The plain public key blob the certificate certifies (what the session's host key must be). */
  publicKey: Buffer;
  /** 1 user, 2 host. */
  certType: number;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: string[];
  /** The CA's public key blob. */
  signatureKey: Buffer;
  /** The bytes the signature covers. */
  signed: Buffer;
  signature: Buffer;
}

/** The certified key's fields, re-encoded as the plain key blob of its type. */
function readCertifiedKey(reader: WireReader, certAlgorithm: string): Buffer {
  if (certAlgorithm === 'ssh-ed25519-cert-v01@openssh.com')
    return Buffer.concat([sshString('ssh-ed25519'), sshString(reader.string())]);
  if (certAlgorithm === 'ssh-rsa-cert-v01@openssh.com') {
    const e = reader.string();
    const n = reader.string();
    return Buffer.concat([sshString('ssh-rsa'), sshString(e), sshString(n)]);
  }
  const ecdsa = /^(ecdsa-sha2-nistp(?:256|384|521))-cert-v01@openssh\.com$/.exec(certAlgorithm);
  if (ecdsa) {
    const curve = reader.string();
    const point = reader.string();
    return Buffer.concat([sshString(ecdsa[1]!), sshString(curve), sshString(point)]);
  }
  throw new Error(`unsupported certificate type ${certAlgorithm}`);
}

/** The names of a critical-options list: (name, data) pairs. */
function readOptionNames(blob: Buffer): string[] {
  const reader = new WireReader(blob);
  const names: string[] = [];
  while (!reader.done) {
    names.push(reader.text());
    reader.string(); // the option's data
  }
  return names;
}

function readPrincipals(blob: Buffer): string[] {
  const reader = new WireReader(blob);
  const names: string[] = [];
  while (!reader.done) names.push(reader.text());
  return names;
}

export function parseHostCertificate(blob: Buffer): HostCertificate {
  const reader = new WireReader(blob);
  const algorithm = reader.text();
  reader.string(); // nonce
  const publicKey = readCertifiedKey(reader, algorithm);
  reader.uint64(); // serial
  const certType = reader.uint32();
  const keyId = reader.text();
  const principals = readPrincipals(reader.string());
  const validAfter = reader.uint64();
  const validBefore = reader.uint64();
  const criticalOptions = readOptionNames(reader.string());
  reader.string(); // extensions (none defined for host certificates)
  reader.string(); // reserved
  const signatureKey = reader.string();
  const signedLength = reader.position;
  const signature = reader.string();
  if (!reader.done) throw new Error('trailing bytes after the certificate signature');
  return {
    publicKey,
    certType,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    signatureKey,
    signed: blob.subarray(0, signedLength),
    signature,
  };
}

const b64url = (bytes: Buffer) => bytes.toString('base64url');
/** An mpint as unsigned big-endian bytes (its sign byte dropped). */
const unsigned = (mpint: Buffer) => (mpint[0] === 0 ? mpint.subarray(1) : mpint);

const CURVES: Record<string, { jwk: string; hash: string; size: number }> = {
  nistp256: { jwk: 'P-256', hash: 'sha256', size: 32 },
  nistp384: { jwk: 'P-384', hash: 'sha384', size: 48 },
  nistp521: { jwk: 'P-521', hash: 'sha512', size: 66 },
};

/** True when `signature` (an SSH signature blob) by the key `keyBlob` covers `data`. */
export function verifySshSignature(keyBlob: Buffer, data: Buffer, signature: Buffer): boolean {
  const key = new WireReader(keyBlob);
  const keyType = key.text();
  const sig = new WireReader(signature);
  const sigType = sig.text();
  const sigBytes = sig.string();
  if (keyType === 'ssh-ed25519') {
    if (sigType !== 'ssh-ed25519') return false;
    const publicKey = crypto.createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: b64url(key.string()) },
      format: 'jwk',
    });
    return crypto.verify(null, data, publicKey, sigBytes);
  }
  if (keyType === 'ssh-rsa') {
    // SHA-1 (`ssh-rsa` signatures) is refused, as OpenSSH 8.8+ does by default.
    const hash = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512' }[sigType];
    if (!hash) return false;
    const e = key.string();
    const n = key.string();
    const publicKey = crypto.createPublicKey({
      key: { kty: 'RSA', e: b64url(unsigned(e)), n: b64url(unsigned(n)) },
      format: 'jwk',
    });
    return crypto.verify(hash, data, publicKey, sigBytes);
  }
  const ecdsa = /^ecdsa-sha2-(nistp(?:256|384|521))$/.exec(keyType);
  if (ecdsa && sigType === keyType) {
    const curve = CURVES[ecdsa[1]!]!;
    key.string(); // curve name, repeated
    const point = key.string();
    if (point[0] !== 4 || point.length !== 1 + 2 * curve.size) return false;
    const publicKey = crypto.createPublicKey({
      key: {
        kty: 'EC',
        crv: curve.jwk,
        x: b64url(point.subarray(1, 1 + curve.size)),
        y: b64url(point.subarray(1 + curve.size)),
      },
      format: 'jwk',
    });
    const rs = new WireReader(sigBytes);
    const pad = (mpint: Buffer) =>
      Buffer.concat([Buffer.alloc(Math.max(0, curve.size - unsigned(mpint).length)), unsigned(mpint)]);
    const p1363 = Buffer.concat([pad(rs.string()), pad(rs.string())]);
    return crypto.verify(curve.hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, p1363);
  }
  return false;
}

export type CertificateVerdict = { ok: true; keyId: string } | { ok: false; reason: string };

/**
 * OpenSSH's checks for a host certificate, one stricter: the certificate
 * must name the host among its principals (OpenSSH accepts an empty list).
 */
export function checkHostCertificate(
  cert: HostCertificate,
  o: { caKeys: readonly Buffer[]; name: string; sessionKey: Buffer; now: number },
): CertificateVerdict {
  if (cert.certType !== 2) return { ok: false, reason: 'it is a user certificate, not a host certificate' };
  if (!o.caKeys.some((ca) => ca.equals(cert.signatureKey)))
    return { ok: false, reason: 'it is signed by a CA not listed as @cert-authority for this host' };
  if (!cert.publicKey.equals(o.sessionKey))
    return { ok: false, reason: 'it certifies another key than the one the host presented' };
  if (!cert.principals.includes(o.name))
    return { ok: false, reason: `it is not valid for ${o.name} (principals: ${cert.principals.join(', ') || 'none'})` };
  const now = BigInt(Math.floor(o.now / 1000));
  if (now < cert.validAfter || now >= cert.validBefore) return { ok: false, reason: 'it is not valid at this time' };
  if (cert.criticalOptions.length)
    return { ok: false, reason: `it has critical options homeport does not know (${cert.criticalOptions.join(', ')})` };
  if (!verifySshSignature(cert.signatureKey, cert.signed, cert.signature))
    return { ok: false, reason: 'its CA signature does not verify' };
  return { ok: true, keyId: cert.keyId };
}

/** Whether any of the host's certificates vouches for the session key; the reason of the last refusal otherwise. */
export function certifiedByCa(
  certificates: readonly Buffer[],
  o: { caKeys: readonly Buffer[]; name: string; sessionKey: Buffer; now: number },
): CertificateVerdict {
  let last: CertificateVerdict = { ok: false, reason: 'the host presented no certificate (ssh-keyscan -c found none)' };
  for (const blob of certificates) {
    try {
      last = checkHostCertificate(parseHostCertificate(blob), o);
    } catch (err) {
      last = { ok: false, reason: `its certificate cannot be read (${(err as Error).message})` };
    }
    if (last.ok) return last;
  }
  return last;
}
