/** Reading database rows: drivers return numbers as numbers or strings (bigint on PostgreSQL) and NULL as null. */
export const nullableNumber = (value: unknown): number | null =>
  value === null || value === undefined ? null : Number(value);
export const nullableString = (value: unknown): string | null =>
  value === null || value === undefined ? null : String(value);
