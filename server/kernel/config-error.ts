import type { ZodIssue } from 'zod';

/** A mistake in the configuration or a file it points to (boot profiles): one line naming the key and the rule. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** One line naming the key and the rule; also used for files the config points to (boot profiles). */
export function describeIssue(issue: ZodIssue, file: string | null): string {
  return describeIssueAt(issue, file ? `config file ${file}` : 'config');
}

export function describeIssueAt(issue: ZodIssue, where: string): string {
  const key = issue.path.join('.') || '(root)';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length ? `${key}.` : '';
    return `${where}: unknown key ${issue.keys.map((k) => prefix + k).join(', ')}`;
  }
  return `${where}: ${key}: ${describeAllowed(issue)}`;
}

function describeAllowed(issue: ZodIssue): string {
  switch (issue.code) {
    case 'invalid_enum_value':
      return `must be one of ${issue.options.join(', ')} (got ${JSON.stringify(issue.received)})`;
    case 'invalid_type':
      return `must be ${issue.expected} (got ${issue.received})`;
    case 'too_small':
      return `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    default:
      return issue.message;
  }
}
