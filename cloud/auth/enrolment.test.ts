import assert from 'node:assert/strict';
import { CODE_ALPHABET, hashEnrolmentCode, newEnrolmentCode, normalizeEnrolmentCode } from './enrolment.ts';

describe('enrolment codes', () => {
  it('are 20 characters of Crockford base32 in groups of five, different each time', () => {
    const codes = Array.from({ length: 200 }, () => newEnrolmentCode());
    for (const c of codes) {
      assert.match(c, /^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$/);
      assert.equal(normalizeEnrolmentCode(c), c.replace(/-/g, ''));
    }
    assert.equal(new Set(codes).size, codes.length);
    assert.equal(CODE_ALPHABET.length, 32);
    // Every character of the alphabet turns up over 200 × 20 draws (each misses with p ≈ 1e-57).
    assert.equal(new Set(codes.join('').replace(/-/g, '')).size, 32);
  });

  it('read as typed: case, spaces and dashes do not matter, O is 0 and I, L are 1; anything else is refused', () => {
    const code = '0123456789ABCDEFGHJK';
    assert.equal(normalizeEnrolmentCode('01234-56789-abcde-fghjk'), code);
    assert.equal(normalizeEnrolmentCode(' O1234 56789 ABCDE FGHJK '), code);
    assert.equal(normalizeEnrolmentCode('0I234-56789-ABCDE-FGHJK'), code);
    assert.equal(normalizeEnrolmentCode('0l234-56789-ABCDE-FGHJK'), code);
    assert.equal(normalizeEnrolmentCode('0123456789ABCDEFGHJ'), undefined, 'too short');
    assert.equal(normalizeEnrolmentCode('0123456789ABCDEFGHJKM'), undefined, 'too long');
    assert.equal(normalizeEnrolmentCode('0123456789ABCDEFGHJU'), undefined, 'U is not in the alphabet');
    assert.equal(normalizeEnrolmentCode('0123456789ABCDEFGHJ!'), undefined);
  });

  it('are stored as a SHA-256 that does not contain the code', () => {
    const h = hashEnrolmentCode('0123456789ABCDEFGHJK');
    assert.match(h, /^[0-9a-f]{64}$/);
    assert.equal(h, hashEnrolmentCode('0123456789ABCDEFGHJK'));
    assert.notEqual(h, hashEnrolmentCode('0123456789ABCDEFGHJM'));
  });
});
