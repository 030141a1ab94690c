import { expect } from 'chai';
import crypto from 'node:crypto';
import { roundToken } from '../../server/auth/rounds.js';
import { LruMap } from '../../server/util/lru.js';

describe('LruMap', () => {
  it('forgets the least recently used entry past its bound; a read counts as a use', () => {
    const lru = new LruMap<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).to.equal(1); // a is now the most recent
    lru.set('c', 3); // evicts b
    expect([lru.get('a'), lru.get('b'), lru.get('c'), lru.size]).to.deep.equal([1, undefined, 3, 2]);
  });

  it('getOrSet computes once per key while the key is kept', () => {
    const lru = new LruMap<string, number>(10);
    let computed = 0;
    const compute = () => ++computed;
    expect([lru.getOrSet('k', compute), lru.getOrSet('k', compute), computed]).to.deep.equal([1, 1, 1]);
  });

  for (const bad of [0, -1, 1.5, Number.NaN]) {
    it(`refuses a bound of ${bad}`, () => {
      expect(() => new LruMap(bad)).to.throw(RangeError);
    });
  }
});

describe('roundToken (cached)', () => {
  const uncached = (secret: string, mac: string, nonce: string) =>
    crypto.createHmac('sha256', secret).update(`round:${mac}:${nonce}`).digest('base64url').slice(0, 32);

  it('equals the HMAC for every secret, MAC and round nonce, also when asked again and after another secret', () => {
    const cases = [
      ['secret-one', '52:54:00:00:00:01', 'nonce-a'],
      ['secret-two', '52:54:00:00:00:01', 'nonce-a'],
      ['secret-one', '52:54:00:00:00:02', 'nonce-a'],
      ['secret-one', '52:54:00:00:00:01', 'nonce-b'],
      ['secret-one', '52:54:00:00:00:01', 'nonce-a'],
    ] as const;
    for (const [secret, mac, nonce] of cases)
      expect(roundToken(secret, mac, nonce), `${secret} ${mac} ${nonce}`).to.equal(uncached(secret, mac, nonce));
    expect(roundToken('secret-one', '52:54:00:00:00:01', 'nonce-a')).to.not.equal(
      roundToken('secret-two', '52:54:00:00:00:01', 'nonce-a'),
    );
    expect(roundToken('secret-one', '52:54:00:00:00:01', 'nonce-a'), 'a new round, a new token').to.not.equal(
      roundToken('secret-one', '52:54:00:00:00:01', 'nonce-b'),
    );
  });
});
