import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LACKS } from '../src/kernels/index';

// The README promises the list of core ops with no cuda kernel; it must say exactly that.
describe('README', () => {
  it('lists exactly the ops the cuda backend lacks', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    // The paragraph right after the marker (later sections name other things in backticks).
    const section = (readme.split('<!-- lacks -->')[1] ?? '').trim().split('\n\n')[0] ?? '';
    const listed = [...section.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]);
    expect([...listed].sort()).toEqual([...LACKS].sort());
  });
});
