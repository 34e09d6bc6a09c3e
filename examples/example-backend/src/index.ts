/**
 * @slimlm/example-backend: a backend plugin written against @slimlm/core's public API. Importing
 * this package registers backend 'example' and its kernels, and the op `squaredDifference`.
 */
import { registerBackend } from '@slimlm/core';
import { EXAMPLE, ExampleBackend } from './backend';
import './kernels/index';

// Priority -1, below the reference backend's 0: importing the package never changes the default
// backend; use it with setBackend('example') or withBackend('example', ...).
registerBackend(EXAMPLE, () => new ExampleBackend(), { priority: -1 });

export type { ExampleStorage } from './backend';
export { squaredDifference } from './ops/squaredDifference';
export { EXAMPLE, ExampleBackend };
