import { registerBackend } from '../../backend';
import { HostMemoryBackend } from '../host-memory';

export const REFERENCE = 'reference';

// The pure-TypeScript backend: typed arrays as storage, every kernel written for clarity and
// exactness (f64 arithmetic, strided inputs). It runs anywhere, browsers included, and is the
// oracle every faster backend is tested against.
registerBackend(REFERENCE, () => new HostMemoryBackend(REFERENCE), { priority: 0 });
