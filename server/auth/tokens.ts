import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Shorter secrets are refused: an empty or short secret makes every token derived from it guessable. */
export const MIN_SECRET_LENGTH = 16;

/** Reads a secret file, or creates it (0600) with a fresh random value; an empty or too-short file stops the start. */
export function readOrCreateSecret(file: string): { value: string; created: boolean } {
  try {
    return { value: checkedSecret(file, fs.readFileSync(file, 'utf8').trim()), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const value = crypto.randomBytes(32).toString('base64url');
  // 'wx' fails if another process created it meanwhile: then read theirs.
  try {
    fs.writeFileSync(file, value + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readOrCreateSecret(file);
    throw err;
  }
  return { value, created: true };
}

function checkedSecret(file: string, value: string): string {
  if (value.length >= MIN_SECRET_LENGTH) return value;
  throw new Error(
    `${file} holds ${value.length === 0 ? 'nothing' : `only ${value.length} characters`}: a secret needs at least ${MIN_SECRET_LENGTH}; write a longer random value (e.g. openssl rand -base64 32), or remove the file to have one generated`,
  );
}

/** Constant-time string comparison. */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}
