import { expect } from 'chai';
import {
  bindFields,
  checkPhoneHome,
  checkRoundAddress,
  isRoundOpen,
  openRound,
  plainAddress,
  roundClosesAfter,
  roundToken,
  type RoundPolicy,
  type RoundState,
} from '../../server/auth/rounds.js';

const MAC = '52:54:00:12:34:56';
const SECRET = 'round-test-secret-0123456789';
const NOW = 1_000_000;
const round = (over: Partial<RoundState> = {}): RoundState => ({
  mac: MAC,
  ...openRound(NOW - 1000, 'nonce-1'),
  ...over,
});
const policy = (over: Partial<RoundPolicy> = {}): RoundPolicy => ({
  secret: SECRET,
  bindSource: 'first-use',
  graceMs: 60_000,
  openPhoneHome: false,
  ...over,
});
const TOKEN = roundToken(SECRET, MAC, 'nonce-1');

describe('install rounds (pure)', () => {
  it('a round is open from its nonce until its closing time', () => {
    const table: [Partial<RoundState>, boolean][] = [
      [{}, true],
      [{ roundNonce: null }, false],
      [{ roundClosesAt: NOW + 1 }, true],
      [{ roundClosesAt: NOW }, false],
      [{ roundClosesAt: NOW - 1 }, false],
    ];
    for (const [over, open] of table) expect(isRoundOpen(round(over), NOW), JSON.stringify(over)).to.equal(open);
  });

  it('a report that ends the install closes the round after the grace; a later one never extends it', () => {
    const table: [boolean, number | null, number | null][] = [
      [false, null, null],
      [false, NOW + 5, NOW + 5],
      [true, null, NOW + 60_000],
      [true, NOW + 10, NOW + 10],
      [true, NOW + 120_000, NOW + 60_000],
    ];
    for (const [ends, closesAt, expected] of table)
      expect(roundClosesAfter(ends, round({ roundClosesAt: closesAt }), NOW, 60_000), `${ends} ${closesAt}`).to.equal(
        expected,
      );
  });

  it('binding: first use binds, the bound address passes, another is refused; lease and off', () => {
    const table: [
      string,
      Partial<RoundPolicy>,
      Partial<RoundState>,
      { sourceIp: string; leaseIp?: string | null },
      { ok: true; bind: string | null } | RegExp,
    ][] = [
      ['first use binds the caller', {}, {}, { sourceIp: '10.0.0.5' }, { ok: true, bind: '10.0.0.5' }],
      [
        'an IPv4 client on a dual-stack socket is its IPv4 address',
        {},
        {},
        { sourceIp: '::ffff:10.0.0.5' },
        { ok: true, bind: '10.0.0.5' },
      ],
      [
        'the bound address passes',
        {},
        { roundBoundIp: '10.0.0.5' },
        { sourceIp: '10.0.0.5' },
        { ok: true, bind: null },
      ],
      [
        'another address is refused',
        {},
        { roundBoundIp: '10.0.0.5' },
        { sourceIp: '10.0.0.66' },
        /bound to 10\.0\.0\.5; the request came from 10\.0\.0\.66/,
      ],
      [
        'a closed round refuses even the bound address',
        {},
        { roundBoundIp: '10.0.0.5', roundClosesAt: NOW - 1 },
        { sourceIp: '10.0.0.5' },
        /install round is closed/,
      ],
      ['no round at all', {}, { roundNonce: null }, { sourceIp: '10.0.0.5' }, /no open install round/],
      [
        'lease: the lease holder binds',
        { bindSource: 'lease' },
        {},
        { sourceIp: '10.0.0.5', leaseIp: '10.0.0.5' },
        { ok: true, bind: '10.0.0.5' },
      ],
      [
        'lease: another address than the lease',
        { bindSource: 'lease' },
        {},
        { sourceIp: '10.0.0.66', leaseIp: '10.0.0.5' },
        /holds the lease 10\.0\.0\.5/,
      ],
      ['lease: no lease', { bindSource: 'lease' }, {}, { sourceIp: '10.0.0.5', leaseIp: null }, /no DHCP lease/],
      [
        'off: any address, nothing bound',
        { bindSource: 'off' },
        { roundBoundIp: '10.0.0.5' },
        { sourceIp: '10.0.0.66' },
        { ok: true, bind: null },
      ],
    ];
    for (const [name, p, state, caller, expected] of table) {
      const verdict = checkRoundAddress(policy(p), round(state), caller, NOW);
      if (expected instanceof RegExp) {
        expect(verdict.ok, name).to.equal(false);
        expect(!verdict.ok && verdict.reason, name).to.match(expected);
      } else {
        expect(verdict, name).to.deep.equal(expected);
      }
    }
  });

  it('phone-home: the round token first, then the address', () => {
    const table: [string, Partial<RoundPolicy>, Partial<RoundState>, string | null, boolean | RegExp][] = [
      ['the round token from the machine', {}, {}, TOKEN, true],
      ['no token', {}, {}, null, /send the round token/],
      ['a wrong token', {}, {}, 'x'.repeat(32), /wrong or from another install round/],
      ['the token of an earlier round', {}, { roundNonce: 'nonce-2' }, TOKEN, /wrong or from another install round/],
      [
        "another node's token",
        {},
        {},
        roundToken(SECRET, '52:54:00:99:99:99', 'nonce-1'),
        /wrong or from another install round/,
      ],
      ['a closed round', {}, { roundClosesAt: NOW }, TOKEN, /install round is closed/],
      ['open phone-home: no token needed', { openPhoneHome: true }, {}, null, true],
      [
        'open phone-home: still not after the round closed',
        { openPhoneHome: true },
        { roundClosesAt: NOW },
        null,
        /install round is closed/,
      ],
      ['the right token from another address', {}, { roundBoundIp: '10.0.0.5' }, TOKEN, /bound to 10\.0\.0\.5/],
    ];
    for (const [name, p, state, token, expected] of table) {
      const verdict = checkPhoneHome(policy(p), round(state), token, { sourceIp: '10.0.0.6' }, NOW);
      if (expected === true) expect(verdict.ok, name).to.equal(true);
      else {
        expect(verdict.ok, name).to.equal(false);
        expect(!verdict.ok && verdict.reason, name).to.match(expected as RegExp);
      }
    }
  });

  it('a new round is a fresh random nonce, unbound and open; binding records where homeport saw the node', () => {
    const a = openRound(NOW);
    const b = openRound(NOW);
    expect(a.roundNonce)
      .to.match(/^[A-Za-z0-9_-]{24}$/)
      .and.not.equal(b.roundNonce);
    expect(a).to.include({ roundOpenedAt: NOW, roundClosesAt: null, roundBoundIp: null });
    expect(bindFields(null)).to.deep.equal({});
    expect(bindFields('10.0.0.5')).to.deep.equal({ roundBoundIp: '10.0.0.5', observedIp: '10.0.0.5' });
    expect(plainAddress('::ffff:10.0.0.5')).to.equal('10.0.0.5');
    expect(plainAddress('fe80::1')).to.equal('fe80::1');
  });
});
