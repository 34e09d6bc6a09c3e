import type { ConformanceCase } from '../conformance';

// Filled in by the op family that owns this file.
export const linalgCases: ConformanceCase[] = [];
