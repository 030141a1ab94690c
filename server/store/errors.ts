/**
 * An error the database raised for one statement's values, before any COMMIT:
 * PostgreSQL's data exceptions (SQLSTATE class 22: a NUL byte, a value too long
 * for its column) and integrity violations (23); SQLite's constraint, type and
 * size errors. Connection and commit failures are not: whether they wrote is unknown.
 */
export function isStatementDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return /^2[23][0-9A-Z]{3}$/.test(code) || /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG)/.test(code);
}
