/**
 * @slimlm/gptq: GPTQ and RTN quantization, gptq / gptq_v2 packing, QuantLinear, and the `gptq`
 * quantization method that lets @slimlm/models load quantized checkpoints.
 */

// format: packing, zero points, configs

export type { GptqConfig, ModuleQuantization } from './format/config';
export {
  dynamicSkipKey,
  dynamicSkips,
  gptqConfigJson,
  moduleQuantization,
  parseGptqConfig,
  readGptqConfig,
  SLIMLM_VERSION,
} from './format/config';
export type { Bits, GptqFormat } from './format/pack';
export {
  isPackable,
  packColumns,
  packRows,
  SUPPORTED_BITS,
  unpackColumns,
  unpackRows,
} from './format/pack';
export type { GptqPackCodesAttrs } from './format/pack-codes';
export { gptqPackCodes } from './format/pack-codes';
export type { ZeroFormatDetection } from './format/zeros';
export {
  convertQzeros,
  detectZeroFormat,
  hexWord,
  packZeros,
  storedZero,
  symmetricQzerosWords,
  unpackZeros,
  zeroFromStored,
  zeroOffsetOf,
} from './format/zeros';

// QuantLinear

export type {
  QuantActivationsResult,
  QuantizedLayer,
  QuantLinearOptions,
} from './quant-linear';
export { QuantLinear, setQuantActivations, stableArgsort } from './quant-linear';

// gptq quantization method (registered with @slimlm/models on import)

export type { GptqLoadInfo } from './method';
export { gptq, gptqLoadInfo, prepareGptqModel, QUANTIZATION_METHODS, registerGptq } from './method';

// algorithm: quantizer, RTN, GPTQ, Hessian capture, the fused 'gptqQuantizeBlock' op

export type { GptqOptions, LayerQuantization } from './algorithm/gptq';
export { gptqQuantize } from './algorithm/gptq';
export { HessianAccumulator } from './algorithm/hessian';
export type { GptqBlockResult, GptqQuantizeBlockAttrs } from './algorithm/quantize-block';
export { gptqQuantizeBlock } from './algorithm/quantize-block';
export type { GroupParams, MseSearch, QuantizerSettings } from './algorithm/quantizer';
export { findParams, roundHalfEven } from './algorithm/quantizer';
export type { GptqRtnAttrs, GptqRtnResult } from './algorithm/rtn';
export { gptqRtnQuantize, rtnQuantize } from './algorithm/rtn';

// model quantization pipeline: layer-by-layer quantizeModel with resume

export type {
  ModuleRecord,
  QuantizeOptions,
  QuantizePhase,
  QuantizeProgress,
  QuantizeSummary,
  SkippedModule,
} from './quantize/options';
export { quantizeModel, unsupportedReason } from './quantize/quantize-model';
