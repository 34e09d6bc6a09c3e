import { describe, it } from 'vitest';
import { available, unavailableReason } from '../src/index';
import { gpuChecks } from './gpu/index';

// The checks that need a GPU. Where there is none they are skipped, and the reason is in every
// suite's name, so the test report says why.
const why = available ? '' : ` (skipped: ${unavailableReason})`;

for (const [family, checks] of Object.entries(gpuChecks)) {
  describe.skipIf(!available)(`cuda ${family}${why}`, () => {
    for (const check of checks) it(check.name, check.run);
  });
}
