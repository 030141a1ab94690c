/**
 * Renders the status page's handlebars views. Its own handlebars instance
 * (boot templates escape for iPXE and shell; this one escapes for HTML, the
 * default): `{{x}}` is HTML-escaped, and the only unescaped output is the
 * page's own inline CSS and script, whose hashes go in the CSP header, so an
 * injected script would not run even if escaping ever failed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

export const VIEWS_DIR = fileURLToPath(new URL('./views', import.meta.url));

export const VIEWS = ['list', 'node', 'job', 'login', 'error'] as const;
export type ViewName = (typeof VIEWS)[number];
/** The part of a page that live updates replace (`?fragment=1`). */
export const FRAGMENTS = ['list-live', 'node-live', 'job-live'] as const;
/** Parts of other views, never rendered alone. */
const PARTIALS = ['jobs'] as const;
export type FragmentName = (typeof FRAGMENTS)[number];

export interface PageRenderer {
  page(view: ViewName, title: string, context: object): string;
  fragment(name: FragmentName, context: object): string;
  /** Content-Security-Policy allowing exactly the inline style and script. */
  csp: string;
}

const sha256 = (text: string) => `'sha256-${crypto.createHash('sha256').update(text, 'utf8').digest('base64')}'`;

export function createRenderer(dir: string = VIEWS_DIR): PageRenderer {
  const engine = Handlebars.create();
  const read = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8');
  // Empty values print as a dash, so a table cell never collapses.
  engine.registerHelper('dash', (value: unknown) =>
    value === null || value === undefined || value === '' ? '—' : String(value),
  );
  for (const name of [...VIEWS, ...FRAGMENTS, ...PARTIALS]) engine.registerPartial(name, read(`${name}.hbs`));
  const compile = (source: string) => engine.compile(source);
  const layout = compile(read('layout.hbs'));
  const fragments = Object.fromEntries(FRAGMENTS.map((name) => [name, compile(`{{> ${name} }}`)])) as Record<
    FragmentName,
    HandlebarsTemplateDelegate
  >;
  const style = read('style.css');
  const script = read('client.js');
  const assets = { style: new Handlebars.SafeString(style), script: new Handlebars.SafeString(script) };
  return {
    page: (view, title, context) => layout({ ...context, ...assets, view, title }),
    fragment: (name, context) => fragments[name](context),
    csp: [
      `default-src 'none'`,
      `style-src ${sha256(style)}`,
      `script-src ${sha256(script)}`,
      `connect-src 'self'`,
      `img-src 'self' data:`,
      `form-action 'self'`,
      `frame-ancestors 'none'`,
      `base-uri 'none'`,
    ].join('; '),
  };
}
