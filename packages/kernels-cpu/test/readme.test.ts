import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FALLBACK_OPS } from '../src/fallback';

// The README promises the list of ops that run the reference kernel; it must say exactly that.
describe('README', () => {
  it('lists exactly the ops that fall back to the reference kernels', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.split('<!-- fallback-ops -->')[1] ?? '';
    const listed = [...section.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1]);
    expect([...listed].sort()).toEqual([...FALLBACK_OPS].sort());
  });
});
