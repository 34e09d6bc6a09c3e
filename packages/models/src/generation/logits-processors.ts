import type { GenerationSettings } from './options';

/**
 * One step of the logits pipeline, as transformers' LogitsProcessor/LogitsWarper: rewrites the
 * next-token scores of one row in place, given the ids so far (prompt and generated).
 */
export type LogitsProcessor = (scores: Float32Array, ids: readonly number[]) => void;

/**
 * transformers' RepetitionPenaltyLogitsProcessor: every id already present has its score divided
 * by `penalty` when positive and multiplied by it when negative (once, however often it occurs).
 */
export function repetitionPenaltyProcessor(penalty: number): LogitsProcessor {
  return (scores, ids) => {
    for (const id of new Set(ids)) {
      const score = scores[id];
      if (score === undefined) continue;
      scores[id] = score < 0 ? score * penalty : score / penalty;
    }
  };
}

/** transformers' TemperatureLogitsWarper: scores / temperature. */
export function temperatureWarper(temperature: number): LogitsProcessor {
  return (scores) => {
    for (let i = 0; i < scores.length; i++) scores[i] = scores[i]! / temperature;
  };
}

/**
 * transformers' TopKLogitsWarper: scores below the k-th largest become -Infinity (ties with it
 * are kept, so more than k tokens may survive).
 */
export function topKWarper(k: number): LogitsProcessor {
  return (scores) => {
    if (k >= scores.length) return;
    const sorted = Float32Array.from(scores).sort();
    const threshold = sorted[scores.length - k]!;
    for (let i = 0; i < scores.length; i++) {
      if (scores[i]! < threshold) scores[i] = Number.NEGATIVE_INFINITY;
    }
  };
}

/**
 * transformers' TopPLogitsWarper (nucleus): going from the least likely token up, tokens are
 * removed while the cumulative probability stays <= 1 - topP, so what survives is the smallest
 * set of most likely tokens holding at least topP of the mass, never less than one token. Equal
 * scores are ordered by id, the higher id counting as less likely. Probabilities in f64.
 */
export function topPWarper(topP: number): LogitsProcessor {
  return (scores) => {
    if (topP >= 1) return;
    const order = Array.from(scores.keys()).sort((a, b) => scores[a]! - scores[b]! || b - a);
    const probabilities = softmax(scores);
    const removable = 1 - topP;
    let cumulative = 0;
    for (let rank = 0; rank < order.length - 1; rank++) {
      const id = order[rank]!;
      cumulative += probabilities[id]!;
      if (cumulative > removable) break;
      scores[id] = Number.NEGATIVE_INFINITY;
    }
  };
}

/**
 * The processors a generation applies, in transformers' order: repetition penalty, then (only
 * when sampling) temperature, top-k and top-p. Steps that would change nothing are left out.
 */
export function logitsProcessors(settings: GenerationSettings): LogitsProcessor[] {
  const processors: LogitsProcessor[] = [];
  if (settings.repetitionPenalty !== 1) {
    processors.push(repetitionPenaltyProcessor(settings.repetitionPenalty));
  }
  if (settings.temperature > 0) {
    if (settings.temperature !== 1) processors.push(temperatureWarper(settings.temperature));
    processors.push(topKWarper(settings.topK));
    if (settings.topP < 1) processors.push(topPWarper(settings.topP));
  }
  return processors;
}

/** softmax in f64; -Infinity scores get probability 0. */
export function softmax(scores: Float32Array): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (const score of scores) if (score > max) max = score;
  const probabilities = new Float64Array(scores.length);
  let total = 0;
  for (let i = 0; i < scores.length; i++) {
    const p = Math.exp(scores[i]! - max);
    probabilities[i] = p;
    total += p;
  }
  for (let i = 0; i < probabilities.length; i++) probabilities[i] = probabilities[i]! / total;
  return probabilities;
}
