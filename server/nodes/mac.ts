/**
 * MAC addresses are stored lowercase with colons ("aa:bb:cc:dd:ee:ff").
 * Accepted input spellings: colons or dashes (iPXE ${mac:hexhyp}), Cisco dotted
 * quads ("aabb.ccdd.eeff"), bare hex, any case. Anything else is rejected.
 */
const SEPARATED = /^([0-9a-f]{2})([:-])([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/;
const DOTTED = /^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$/;
const BARE = /^[0-9a-f]{12}$/;

export function normalizeMac(input: string): string | null {
  const value = input.trim().toLowerCase();
  let hex: string | null = null;
  const separated = SEPARATED.exec(value);
  if (separated) hex = [1, 3, 4, 5, 6, 7].map((i) => separated[i]).join('');
  const dotted = DOTTED.exec(value);
  if (dotted) hex = dotted.slice(1).join('');
  if (BARE.test(value)) hex = value;
  if (hex === null) return null;
  return hex.match(/../g)!.join(':');
}

export function isMac(input: string): boolean {
  return normalizeMac(input) !== null;
}
