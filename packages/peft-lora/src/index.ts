/**
 * @slimlm/peft-lora: LoRA layers on fp or quantized linears, PEFT-format adapters, merging, and a
 * generic trainer (AdamW, schedules, accumulation, clipping, checkpoints) for any CausalLM.
 */
