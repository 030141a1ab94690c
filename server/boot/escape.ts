/**
 * Escaping per target language. Every value a boot template renders goes
 * through one of these (templates.ts makes it the default for `{{x}}`), so a
 * node record that slipped past input validation (a hostname with a newline,
 * `${...}`, `;`, quotes, backticks) cannot break out of the script or config
 * it lands in: it is either quoted so the target reads it back verbatim, or
 * refused when the target has no quoting at all (iPXE). Pure.
 */
export const LANGUAGES = ['ipxe', 'sh', 'json', 'line', 'url'] as const;
export type Language = (typeof LANGUAGES)[number];

/** A value that cannot be rendered safely into the target language. */
export class UnsafeValueError extends Error {
  constructor(
    readonly language: Language,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field} cannot be rendered into ${language}: ${reason}`);
    this.name = 'UnsafeValueError';
  }
}

/**
 * iPXE has no quoting: a line is split on whitespace, `${...}` is expanded
 * everywhere, a token starting with `#` starts a comment, and `;`, `&&`, `||`
 * tokens chain commands. So a value is accepted only when it is one harmless
 * token: URL-ish characters, no `$`, `{`, `}`, `#`, `;`, `|`, quotes or spaces.
 */
const IPXE_TOKEN = /^[A-Za-z0-9._~:/?&=+,@%!*()[\]-]*$/;

// C0 controls, DEL, and the Unicode line/paragraph separators some parsers treat as newlines.
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/;

function asText(value: unknown, language: Language, field: string): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new UnsafeValueError(
    language,
    field,
    `is ${Array.isArray(value) ? 'a list' : 'an object'}; render one of its fields`,
  );
}

function ipxe(text: string, field: string): string {
  if (!IPXE_TOKEN.test(text) || text.includes('&&')) {
    throw new UnsafeValueError(
      'ipxe',
      field,
      'holds whitespace, a control character, or one of $ { } # ; | ` \' " \\ < > (iPXE cannot quote them)',
    );
  }
  return text;
}

/** POSIX shell: single quotes keep everything literal; a quote inside is closed, escaped and reopened. */
function sh(text: string, field: string): string {
  if (text.includes('\u0000')) throw new UnsafeValueError('sh', field, 'holds a NUL byte');
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The inside of a double-quoted JSON string, which is also a valid TOML basic
 * string and YAML double-quoted scalar: the template writes the quotes.
 * DEL and U+2028/2029 are escaped too (TOML forbids a raw DEL).
 */
function json(text: string): string {
  return JSON.stringify(text)
    .slice(1, -1)
    .replace(/[\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One line of a line-oriented config (preseed, kernel cmdline files): no escaping exists, so no control characters. */
function line(text: string, field: string): string {
  if (CONTROL.test(text)) throw new UnsafeValueError('line', field, 'holds a newline or another control character');
  return text;
}

/** A URL path segment or query value; also a safe iPXE token. */
function url(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function escapeFor(language: Language, value: unknown, field: string): string {
  const text = asText(value, language, field);
  switch (language) {
    case 'ipxe':
      return ipxe(text, field);
    case 'sh':
      return sh(text, field);
    case 'json':
      return json(text);
    case 'line':
      return line(text, field);
    case 'url':
      return url(text);
  }
}

/** The default language of a template, from its file name (`answer.toml` -> json). */
export function languageOfFile(file: string): Language {
  const name = file.toLowerCase().replace(/\.(hbs|handlebars)$/, '');
  if (name.endsWith('.ipxe')) return 'ipxe';
  if (name.endsWith('.sh')) return 'sh';
  if (/\.(toml|ya?ml|json)$/.test(name)) return 'json';
  return 'line';
}

/** Text for an iPXE `echo`: anything that iPXE would interpret becomes `_`. */
export function ipxeEchoText(text: string): string {
  return text
    .replace(/[^A-Za-z0-9 .,:/=()_@+'-]/g, '_')
    .replace(/\s+/g, ' ')
    .slice(0, 300);
}
