/**
 * How people read a time, everywhere homeport shows one to a person (CLI output,
 * the status page's timeline): `2026-12-02 17:41:25Z`, UTC, to the second. The
 * JSON API keeps full ISO 8601 with milliseconds for programs.
 */
export function formatTime(at: number | string): string {
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return String(at);
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

const ISO_PREFIX = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)(?= )/;

/** A job log line starts with the ISO time it was written; shown like every other time. */
export const formatLogLine = (line: string): string => line.replace(ISO_PREFIX, (iso) => formatTime(iso));
