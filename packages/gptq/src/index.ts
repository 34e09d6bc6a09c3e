/**
 * @slimlm/gptq: GPTQ and RTN quantization, gptq / gptq_v2 packing, QuantLinear, and the `gptq`
 * quantization method that lets @slimlm/models load quantized checkpoints.
 */
