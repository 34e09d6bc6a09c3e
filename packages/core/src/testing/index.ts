// @slimlm/core/testing: the tools every backend's tests share.

export { sample } from './cases/core';
export { sampleQuantizedWeight } from './cases/quantized';
export type { ConformanceCase, ConformanceResult } from './conformance';
export { conformanceCases, runConformance } from './conformance';
export type { GradcheckMismatch, GradcheckOptions, GradcheckResult } from './gradcheck';
export { gradcheck } from './gradcheck';
