// Filled in by the op family that owns this file.
export {};
