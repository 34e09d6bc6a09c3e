/**
 * @slimlm/eval-metrics: perplexity by named protocols (the GPTQ paper's non-overlapping windows
 * so far); task metrics and a generation benchmark follow in issue #6.
 */
export type { PerplexityOptions, PerplexityProtocol, PerplexityResult } from './perplexity';
export { PERPLEXITY_PROTOCOLS, perplexity } from './perplexity';
