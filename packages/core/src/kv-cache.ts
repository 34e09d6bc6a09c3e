// Filled in by the transformer op family (issue #2).
export class KVCache {}
