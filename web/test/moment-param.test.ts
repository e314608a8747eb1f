import { describe, expect, it } from 'vitest';
import { momentParam, parseMomentParam } from '../src/format';

describe('the ?t= of a moment link', () => {
  it('reads seconds and clocks', () => {
    expect(parseMomentParam('83')).toBe(83_000);
    expect(parseMomentParam('5.5')).toBe(5_500);
    expect(parseMomentParam(' 12 ')).toBe(12_000);
    expect(parseMomentParam('2:03')).toBe(123_000);
    expect(parseMomentParam('1:02:03.5')).toBe(3_723_500);
    expect(parseMomentParam('0')).toBe(0);
    expect(parseMomentParam(['12', '13'])).toBe(12_000);
    expect(parseMomentParam('604800')).toBe(604_800_000);
    // What the viewer writes, it reads back.
    expect(parseMomentParam(momentParam(1_203_500))).toBe(1_203_500);
  });

  it('anything else is no moment (the episode opens as without one)', () => {
    for (const t of ['-5', '1e309', '1e3', 'NaN', 'Infinity', '0x10', '', '   ', '99:99:99', '1:60', '60:00:00:00', '1:2:3:4', '1.5:00', '12:', ':12', '604801', '9'.repeat(300), '9'.repeat(100_000), '1:02:03abc']) {
      expect(parseMomentParam(t), t.slice(0, 20)).toBeNull();
    }
    for (const t of [12, null, undefined, {}, []]) expect(parseMomentParam(t)).toBeNull();
  });
});
