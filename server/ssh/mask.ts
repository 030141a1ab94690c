/**
 * Replaces every occurrence of each secret in a text with `****` (seed 003:
 * tokens never appear in logs or errors). Secrets shorter than 4 characters
 * are ignored: masking "a" would garble every message without hiding anything.
 */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let masked = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    masked = masked.split(secret).join('****');
  }
  return masked;
}
