import { expect } from 'chai';
import { bodyKind, parseContentType, parseFormBody, parseJsonBody } from '../../server/http/body.js';
import { HttpError } from '../../server/kernel/errors.js';

/** The status and detail a parser's error would be answered with, or the parsed value. */
function outcome(parse: () => unknown): unknown {
  try {
    return { value: parse() };
  } catch (err) {
    if (err instanceof HttpError) return { status: err.status, detail: err.detail };
    throw err;
  }
}

describe('request bodies (server/http/body.ts)', () => {
  it('reads the media type and charset of a Content-Type header', () => {
    const cases: [string | undefined, { type: string; charset: string | null }][] = [
      [undefined, { type: '', charset: null }],
      ['application/json', { type: 'application/json', charset: null }],
      ['Application/JSON; Charset=UTF-8', { type: 'application/json', charset: 'utf-8' }],
      [
        'application/x-www-form-urlencoded;charset="utf-8"',
        { type: 'application/x-www-form-urlencoded', charset: 'utf-8' },
      ],
      ['text/plain; format=flowed', { type: 'text/plain', charset: null }],
    ];
    for (const [header, expected] of cases) expect(parseContentType(header), String(header)).to.deep.equal(expected);
  });

  it('parses JSON and forms, and leaves every other type unread', () => {
    const cases: [string, 'json' | 'form' | null][] = [
      ['application/json', 'json'],
      ['application/scim+json', 'json'],
      ['application/x-www-form-urlencoded', 'form'],
      ['text/plain', null],
      ['multipart/form-data', null],
      ['', null],
    ];
    for (const [type, kind] of cases) expect(bodyKind(type), type).to.equal(kind);
  });

  it('accepts a JSON object or array and refuses anything else with a 400 that says why', () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const cases: [string, string, unknown][] = [
      ['an object', '{"mac":"52:54:00:00:00:01"}', { value: { mac: '52:54:00:00:00:01' } }],
      ['an array', ' [1, 2]', { value: [1, 2] }],
      ['an empty body', '', { value: {} }],
      ['blanks only', ' \n', { value: {} }],
      ['a bare string', '"hello"', { status: 400, detail: 'invalid JSON: only an object or an array is accepted' }],
      ['a number', '42', { status: 400, detail: 'invalid JSON: only an object or an array is accepted' }],
      ['a cut-off object', '{"mac": "52:54', { status: 400, detail: /^invalid JSON: / }],
      [
        '__proto__ as a key',
        '{"a": {"__proto__": {"admin": true}}}',
        { status: 400, detail: 'invalid JSON: __proto__ is not accepted as a key' },
      ],
      [
        'constructor.prototype',
        '{"constructor": {"prototype": {"admin": true}}}',
        { status: 400, detail: 'invalid JSON: constructor.prototype is not accepted as a key' },
      ],
      [
        '"prototype" as a plain value',
        '{"message": "prototype __proto__ text"}',
        { value: { message: 'prototype __proto__ text' } },
      ],
    ];
    for (const [name, text, expected] of cases) {
      const got = outcome(() => parseJsonBody(text)) as { status?: number; detail?: string };
      const want = expected as { status?: number; detail?: string | RegExp };
      if (want.detail instanceof RegExp) {
        expect(got.status, name).to.equal(want.status);
        expect(got.detail, name).to.match(want.detail);
      } else expect(got, name).to.deep.equal(expected);
    }
    // Nested 10,000 deep: parsed, and the prototype-key walk does not recurse.
    expect(parseJsonBody(deep)).to.be.an('array');
    expect(outcome(() => parseJsonBody(`${'['.repeat(10_000)}{"__proto__": 1}${']'.repeat(10_000)}`))).to.deep.equal({
      status: 400,
      detail: 'invalid JSON: __proto__ is not accepted as a key',
    });
  });

  it('reads a form with each field once, as own properties', () => {
    expect(parseFormBody('mac=52%3A54%3A00%3A00%3A00%3A01&phase=installation&message=a+b')).to.deep.equal({
      mac: '52:54:00:00:00:01',
      phase: 'installation',
      message: 'a b',
    });
    expect(parseFormBody('')).to.deep.equal({});
    expect(outcome(() => parseFormBody('phase=a&phase=b'))).to.deep.equal({
      status: 400,
      detail: 'phase: is given more than once',
    });
    const poisoned = parseFormBody('__proto__=x&mac=1');
    expect(Object.getPrototypeOf(poisoned)).to.equal(Object.prototype);
    expect(Object.keys(poisoned)).to.deep.equal(['__proto__', 'mac']);
  });
});
