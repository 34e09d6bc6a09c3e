/**
 * @slimlm/eval-metrics: perplexity by named protocol, task metrics (accuracy, SQuAD exact match
 * and token F1, sacrebleu's BLEU, rouge-score's ROUGE-L) with a greedy `evaluateTask`, a
 * before/after forgetting report, optimum's generation benchmark, and Markdown/SVG reports.
 */
export type {
  GenerationBenchmark,
  GenerationBenchmarkOptions,
  WeightsDescription,
} from './benchmark';
export { benchmarkGeneration, describeWeights, fitLengths } from './benchmark';
export type {
  EvaluationSnapshot,
  ForgettingOptions,
  ForgettingReport,
  ForgettingRow,
} from './forgetting';
export { forgettingReport } from './forgetting';
export type { PerplexityOptions, PerplexityProtocol, PerplexityResult } from './perplexity';
export { defaultSeqlen, PERPLEXITY_PROTOCOLS, perplexity } from './perplexity';
export type { Cell } from './report/markdown';
export { benchmarkTable, forgettingTable, markdownTable, weightsLabel } from './report/markdown';
export type { ChartPoint, ChartSeries, SvgChartOptions } from './report/svg';
export { svgChart } from './report/svg';
export { accuracy } from './task/accuracy';
export type { BleuResult } from './task/bleu';
export { bleu, tokenize13a } from './task/bleu';
export type {
  EvaluateTaskOptions,
  TaskEvaluation,
  TaskExample,
  TaskMetric,
} from './task/evaluate-task';
export { evaluateTask, TASK_METRICS } from './task/evaluate-task';
export type { Reference } from './task/references';
export { rougeL } from './task/rouge';
export { exactMatch, normalizeAnswer, tokenF1 } from './task/squad';
