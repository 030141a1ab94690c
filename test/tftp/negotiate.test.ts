import { expect } from 'chai';
import { negotiate } from '../../server/tftp/negotiate.js';

const limits = { maxBlksize: 65464, maxWindowsize: 64 };

describe('tftp option negotiation', () => {
  const cases: {
    name: string;
    options: [string, string][];
    limits?: typeof limits;
    size?: number;
    blksize: number;
    windowsize: number;
    timeout?: number;
    oack: [string, string][];
  }[] = [
    { name: 'no options: RFC 1350 defaults, no OACK', options: [], blksize: 512, windowsize: 1, oack: [] },
    { name: 'blksize 1468', options: [['blksize', '1468']], blksize: 1468, windowsize: 1, oack: [['blksize', '1468']] },
    {
      name: 'blksize at the RFC 2348 maximum',
      options: [['blksize', '65464']],
      blksize: 65464,
      windowsize: 1,
      oack: [['blksize', '65464']],
    },
    {
      name: 'blksize above the maximum is clamped',
      options: [['blksize', '70000']],
      blksize: 65464,
      windowsize: 1,
      oack: [['blksize', '65464']],
    },
    {
      name: 'blksize above the configured maximum is clamped',
      options: [['blksize', '8192']],
      limits: { maxBlksize: 1468, maxWindowsize: 64 },
      blksize: 1468,
      windowsize: 1,
      oack: [['blksize', '1468']],
    },
    {
      name: 'blksize 8 (the minimum)',
      options: [['blksize', '8']],
      blksize: 8,
      windowsize: 1,
      oack: [['blksize', '8']],
    },
    { name: 'blksize below 8 is ignored', options: [['blksize', '7']], blksize: 512, windowsize: 1, oack: [] },
    { name: 'a non-numeric blksize is ignored', options: [['blksize', '1e3']], blksize: 512, windowsize: 1, oack: [] },
    {
      name: 'tsize is answered with the size',
      options: [['tsize', '0']],
      size: 123456,
      blksize: 512,
      windowsize: 1,
      oack: [['tsize', '123456']],
    },
    {
      name: 'tsize without a known size is left out',
      options: [['tsize', '0']],
      blksize: 512,
      windowsize: 1,
      oack: [],
    },
    {
      name: 'timeout 1..255 is accepted',
      options: [['timeout', '3']],
      blksize: 512,
      windowsize: 1,
      timeout: 3,
      oack: [['timeout', '3']],
    },
    { name: 'timeout 0 is ignored', options: [['timeout', '0']], blksize: 512, windowsize: 1, oack: [] },
    { name: 'timeout 256 is ignored', options: [['timeout', '256']], blksize: 512, windowsize: 1, oack: [] },
    { name: 'windowsize 8', options: [['windowsize', '8']], blksize: 512, windowsize: 8, oack: [['windowsize', '8']] },
    {
      name: 'windowsize above the configured maximum is clamped',
      options: [['windowsize', '65535']],
      blksize: 512,
      windowsize: 64,
      oack: [['windowsize', '64']],
    },
    { name: 'windowsize 0 is ignored', options: [['windowsize', '0']], blksize: 512, windowsize: 1, oack: [] },
    {
      name: 'unknown options are ignored',
      options: [
        ['multicast', ''],
        ['rollover', '0'],
      ],
      blksize: 512,
      windowsize: 1,
      oack: [],
    },
    {
      name: 'all together, in the order of the reply',
      options: [
        ['windowsize', '16'],
        ['tsize', '0'],
        ['blksize', '1432'],
        ['timeout', '2'],
      ],
      size: 42,
      blksize: 1432,
      windowsize: 16,
      timeout: 2,
      oack: [
        ['blksize', '1432'],
        ['timeout', '2'],
        ['tsize', '42'],
        ['windowsize', '16'],
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = negotiate(new Map(c.options), c.limits ?? limits, c.size);
      expect(result.blksize).to.equal(c.blksize);
      expect(result.windowsize).to.equal(c.windowsize);
      expect(result.timeoutSeconds).to.equal(c.timeout);
      expect([...result.oack]).to.deep.equal(c.oack);
    });
  }
});
