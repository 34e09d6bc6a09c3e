// @slimlm/core/testing: the tools every backend's tests share.
export { gradcheck } from './gradcheck';
export type { GradcheckOptions, GradcheckResult, GradcheckMismatch } from './gradcheck';
export { conformanceCases, runConformance } from './conformance';
export type { ConformanceCase, ConformanceResult } from './conformance';
export { sample } from './cases/core';
