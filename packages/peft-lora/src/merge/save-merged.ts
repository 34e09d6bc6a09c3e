import { rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type QuantizeOptions, type QuantizeSummary, quantizeModel } from '@slimlm/gptq';
import { type CausalLM, type SaveModelOptions, saveModel } from '@slimlm/models';
import { dequantizeModel } from './dequantize';
import { type MergeSummary, mergeAdapter } from './merge-adapter';

export interface SaveMergedOptions
  extends Pick<SaveModelOptions, 'copyFiles' | 'overwrite' | 'maxShardSize'> {
  /** The adapters to merge (default: the active ones). */
  adapterNames?: readonly string[];
  /**
   * Quantize the merged model with @slimlm/gptq's quantizeModel (GPTQ with calibration windows,
   * or RTN) into `folder`. Without it the merged model is written in floating point.
   */
  quantize?: QuantizeOptions;
}

export interface SaveMergedResult extends MergeSummary {
  folder: string;
  /** quantizeModel's summary, when `quantize` was given. */
  quantized?: QuantizeSummary;
}

/**
 * Merges the adapters (see mergeAdapter) and writes the result as a model folder: in floating
 * point (a GPTQ base is dequantized first: the merged weight is W_dequantized + scaling · B · A),
 * or, with `quantize`, requantized by quantizeModel, so a GPTQ base can be requantized with GPTQ
 * and a calibration set rather than RTN. The model is left merged and, for a GPTQ base,
 * dequantized. The folder appears only when complete.
 */
export async function saveMergedModel(
  model: CausalLM,
  folder: string,
  options: SaveMergedOptions = {},
): Promise<SaveMergedResult> {
  const summary = mergeAdapter(model, {
    quantized: 'dequantize',
    ...(options.adapterNames ? { adapterNames: options.adapterNames } : {}),
  });
  summary.dequantized.push(...dequantizeModel(model));
  const save: SaveModelOptions = {
    // A dequantized checkpoint is no longer a GPTQ one (undefined drops the field).
    config: { quantization_config: undefined },
    ...(options.copyFiles ? { copyFiles: options.copyFiles } : {}),
    ...(options.maxShardSize === undefined ? {} : { maxShardSize: options.maxShardSize }),
  };
  if (!options.quantize) {
    saveModel(model, folder, { ...save, overwrite: options.overwrite ?? false });
    return { ...summary, folder };
  }
  const merged = join(dirname(folder), `.${basename(folder)}.merged-${process.pid}-${Date.now()}`);
  try {
    saveModel(model, merged, save);
    const quantized = await quantizeModel(merged, folder, {
      ...options.quantize,
      overwrite: options.overwrite ?? options.quantize.overwrite ?? false,
    });
    return { ...summary, folder: quantized.outFolder, quantized };
  } finally {
    rmSync(merged, { recursive: true, force: true });
  }
}
