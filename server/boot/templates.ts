import Handlebars from 'handlebars';
import { escapeFor, LANGUAGES, UnsafeValueError, type Language } from './escape.js';

/**
 * Handlebars for boot templates, escaping by default for the template's
 * target language instead of HTML:
 * - `{{x}}` renders x escaped for the template's language (from its file
 *   name: .ipxe, .sh, .toml/.yaml/.json, anything else is one-line text);
 * - `{{sh x}}`, `{{ipxe x}}`, `{{json x}}`, `{{line x}}`, `{{url x}}` pick a
 *   language explicitly (a shell line inside a YAML file, a URL segment);
 * - `{{raw x}}` renders unescaped, and says so where it is used;
 * - `{{{x}}}`, partials and decorators are refused when the template loads.
 * This is done by rewriting the parsed template (every output statement is
 * wrapped in an escaping helper), so no output can bypass escaping.
 * Templates run in strict mode: a misspelt field is an error, not an empty string.
 */
type AST = hbs.AST.Program;
type Mustache = hbs.AST.MustacheStatement;
type Expression = hbs.AST.Expression;

const ESCAPERS: readonly string[] = [...LANGUAGES, 'raw'];

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

export interface CompiledTemplate {
  name: string;
  language: Language;
  render(context: object): string;
}

const engine = Handlebars.create();
for (const language of LANGUAGES) {
  engine.registerHelper(language, (value: unknown, options: Handlebars.HelperOptions) =>
    escapeFor(language, value, fieldOf(options)),
  );
}
engine.registerHelper('raw', (value: unknown) => (value === null || value === undefined ? '' : String(value)));

function fieldOf(options: Handlebars.HelperOptions): string {
  const field = (options.hash as { field?: unknown }).field;
  return typeof field === 'string' ? field : 'a value';
}

export function compileTemplate(name: string, source: string, language: Language): CompiledTemplate {
  let ast: AST;
  try {
    ast = engine.parse(source);
  } catch (err) {
    throw new TemplateError(`template ${name}: ${firstLine(err)}`);
  }
  escapeOutputs(ast, name, language);
  const render = engine.compile(ast, { noEscape: true, strict: true });
  return {
    name,
    language,
    render(context) {
      try {
        return render(context);
      } catch (err) {
        if (err instanceof UnsafeValueError) throw err;
        throw new TemplateError(`template ${name}: ${firstLine(err)}`);
      }
    },
  };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

/** Walks the template and wraps every output statement in an escaping helper. */
function escapeOutputs(program: AST, name: string, language: Language): void {
  for (const statement of program.body) {
    const where = () => `template ${name} line ${statement.loc.start.line}`;
    switch (statement.type) {
      case 'MustacheStatement': {
        const mustache = statement as Mustache;
        if (!mustache.escaped)
          throw new TemplateError(`${where()}: {{{...}}} is not allowed; write {{raw x}} to render unescaped`);
        wrapInEscaper(mustache, language);
        break;
      }
      case 'BlockStatement': {
        const block = statement as hbs.AST.BlockStatement;
        if (block.program) escapeOutputs(block.program, name, language);
        if (block.inverse) escapeOutputs(block.inverse, name, language);
        break;
      }
      case 'ContentStatement':
      case 'CommentStatement':
        break;
      default:
        throw new TemplateError(`${where()}: ${statement.type} is not supported in boot templates`);
    }
  }
}

function wrapInEscaper(mustache: Mustache, language: Language): void {
  const path = mustache.path;
  const isEscaper =
    path.type === 'PathExpression' &&
    ESCAPERS.includes((path as hbs.AST.PathExpression).original) &&
    mustache.params.length > 0;
  if (isEscaper) {
    requireField(mustache.params[0]!);
    addFieldLabel(mustache, describe(mustache.params[0]!));
    return;
  }
  // `{{x}}` -> `{{lang x}}`; `{{helper a b}}` -> `{{lang (helper a b)}}`.
  const inner: Expression =
    mustache.params.length === 0 && mustache.hash === undefined
      ? (path as Expression)
      : ({
          type: 'SubExpression',
          path,
          params: mustache.params,
          hash: mustache.hash,
          loc: mustache.loc,
        } as hbs.AST.SubExpression);
  requireField(inner);
  mustache.path = pathExpression(language, mustache.loc);
  mustache.params = [inner];
  mustache.hash = undefined as unknown as hbs.AST.Hash;
  addFieldLabel(mustache, describe(inner));
}

/**
 * Strict mode checks only the path of a plain `{{x}}`; once wrapped, x is a
 * helper parameter, so it is marked strict here: a missing field still throws.
 */
function requireField(expression: Expression): void {
  if (expression.type === 'PathExpression') (expression as hbs.AST.PathExpression & { strict?: boolean }).strict = true;
}

/** The field name an error message shows (`node.hostname`, `(lookup node.labels "rack")`). */
function describe(expression: Expression): string {
  if (expression.type === 'PathExpression') return (expression as hbs.AST.PathExpression).original;
  if (expression.type === 'SubExpression') {
    const sub = expression as hbs.AST.SubExpression;
    return `(${[sub.path, ...sub.params].map(describe).join(' ')})`;
  }
  const literal = expression as unknown as { original?: unknown; value?: unknown };
  return String(literal.original ?? literal.value);
}

function addFieldLabel(mustache: Mustache, field: string): void {
  const pair: hbs.AST.HashPair = {
    type: 'HashPair',
    key: 'field',
    value: stringLiteral(field, mustache.loc),
    loc: mustache.loc,
  };
  const pairs = (mustache.hash?.pairs ?? []).filter((p) => p.key !== 'field');
  mustache.hash = { type: 'Hash', pairs: [...pairs, pair], loc: mustache.loc };
}

function pathExpression(name: string, loc: hbs.AST.SourceLocation): hbs.AST.PathExpression {
  return { type: 'PathExpression', data: false, depth: 0, parts: [name], original: name, loc };
}

function stringLiteral(value: string, loc: hbs.AST.SourceLocation): hbs.AST.StringLiteral {
  return { type: 'StringLiteral', value, original: value, loc };
}
