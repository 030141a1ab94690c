import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ErrorCode } from '../../server/tftp/packet.js';
import { requestSegments, resolveRequestPath } from '../../server/tftp/paths.js';

describe('tftp path confinement', () => {
  describe('request names', () => {
    const cases: [string, string[] | RegExp][] = [
      ['pxelinux.0', ['pxelinux.0']],
      ['/pxelinux.0', ['pxelinux.0']],
      ['//boot//./ipxe.efi', ['boot', 'ipxe.efi']],
      ['boot\\ipxe.efi', ['boot', 'ipxe.efi']],
      ['../etc/passwd', /\.\./],
      ['boot/../../etc/passwd', /\.\./],
      ['..\\..\\etc\\passwd', /\.\./],
      ['a\0b', /NUL/],
      ['/', /empty/],
    ];
    for (const [name, expected] of cases) {
      it(JSON.stringify(name), () => {
        const segments = requestSegments(name);
        if (expected instanceof RegExp) expect(segments).to.match(expected);
        else expect(segments).to.deep.equal(expected);
      });
    }
  });

  describe('resolution against roots', () => {
    let base: string;
    let root: string;
    let ipxe: string;
    before(() => {
      base = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-tftp-paths-'));
      root = path.join(base, 'root');
      ipxe = path.join(base, 'ipxe');
      fs.mkdirSync(path.join(root, 'boot'), { recursive: true });
      fs.mkdirSync(ipxe);
      fs.writeFileSync(path.join(base, 'secret'), 'outside');
      fs.writeFileSync(path.join(root, 'boot', 'vmlinuz'), 'kernel');
      fs.writeFileSync(path.join(root, 'ipxe.efi'), 'custom');
      fs.writeFileSync(path.join(ipxe, 'ipxe.efi'), 'debian');
      fs.writeFileSync(path.join(ipxe, 'undionly.kpxe'), 'debian');
      fs.symlinkSync('boot/vmlinuz', path.join(root, 'inside-link'));
      fs.symlinkSync(path.join(base, 'secret'), path.join(root, 'outside-link'));
      fs.symlinkSync(base, path.join(root, 'outside-dir'));
    });
    after(() => fs.rmSync(base, { recursive: true, force: true }));

    const resolve = (name: string) => resolveRequestPath(name, [root, ipxe, path.join(base, 'missing-root')]);

    it('finds a file in the first root, with or without a leading slash', async () => {
      for (const name of ['boot/vmlinuz', '/boot/vmlinuz']) {
        expect(await resolve(name)).to.deep.include({
          ok: true,
          path: path.join(fs.realpathSync(root), 'boot', 'vmlinuz'),
        });
      }
    });

    it('the configured root shadows the ipxe directory; the ipxe directory fills in', async () => {
      expect(await resolve('ipxe.efi')).to.deep.include({ path: path.join(fs.realpathSync(root), 'ipxe.efi') });
      expect(await resolve('undionly.kpxe')).to.deep.include({
        path: path.join(fs.realpathSync(ipxe), 'undionly.kpxe'),
      });
    });

    it('follows a symlink that stays inside the root', async () => {
      expect(await resolve('inside-link')).to.deep.include({
        ok: true,
        path: path.join(fs.realpathSync(root), 'boot', 'vmlinuz'),
      });
    });

    const refusals: [string, number][] = [
      ['../secret', ErrorCode.AccessViolation],
      ['boot/../../secret', ErrorCode.AccessViolation],
      ['outside-link', ErrorCode.AccessViolation],
      ['outside-dir/secret', ErrorCode.AccessViolation],
      ['boot', ErrorCode.AccessViolation],
      ['nope', ErrorCode.FileNotFound],
      ['/etc/passwd', ErrorCode.FileNotFound],
    ];
    for (const [name, code] of refusals) {
      it(`refuses ${JSON.stringify(name)} with error ${code}`, async () => {
        expect(await resolve(name)).to.deep.include({ ok: false, code });
      });
    }
  });
});
