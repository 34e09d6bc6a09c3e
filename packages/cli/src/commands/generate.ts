import { type GenerateOptions, generateText, type LoadedModel } from '@slimlm/models';
import { defineCommand } from '../command';
import { UsageError } from '../errors';
import { ACTIVATIONS_OPTION, BACKEND_OPTION, MODEL_OPTIONS } from '../options';
import { applyAdapterArgument, readAdapterArgument } from '../utils/adapter';
import { type BACKENDS, selectBackend } from '../utils/backend';
import { formatSeconds } from '../utils/format';
import { loadWithProgress } from '../utils/load-model';
import { resolveModel } from '../utils/resolve-model';

const DEFAULT_MAX_NEW_TOKENS = 128;

/** `slimlm generate --json`: exactly these fields; tokens and text are the new part only. */
export interface GenerateJson {
  prompt_tokens: number[];
  tokens: number[];
  text: string;
}

export const generateCommand = defineCommand({
  name: 'generate',
  summary: 'Generate text from a prompt, streaming tokens as they come',
  description:
    'Greedy by default (--temperature 0); a positive temperature samples, with --top-k, --top-p\n' +
    'and --seed. Generation stops at the end-of-sequence token, at a --stop string or after\n' +
    '--max-new-tokens. The prompt is echoed, then the new text streams to stdout.\n' +
    '--adapter applies a PEFT LoRA adapter (as `slimlm finetune` writes) on top of the model.',
  positionals: [{ name: 'model', description: 'local folder, built-in name or Hub id' }],
  options: {
    prompt: {
      type: 'string',
      required: true,
      placeholder: 'text',
      description: 'The text to continue (the tokenizer adds BOS as the model expects)',
    },
    'max-new-tokens': {
      type: 'integer',
      min: 1,
      placeholder: 'n',
      description: `Tokens to generate at most (default: generation_config.json, else ${DEFAULT_MAX_NEW_TOKENS})`,
    },
    temperature: {
      type: 'number',
      min: 0,
      placeholder: 't',
      description: 'Sampling temperature; 0 is greedy (default 0)',
    },
    'top-k': {
      type: 'integer',
      min: 0,
      placeholder: 'k',
      description: 'Sample from the k most likely tokens only (0: all)',
    },
    'top-p': {
      type: 'number',
      min: 0,
      exclusiveMin: true,
      max: 1,
      placeholder: 'p',
      description: 'Sample from the smallest set of tokens whose probability reaches p',
    },
    'repetition-penalty': {
      type: 'number',
      min: 0,
      exclusiveMin: true,
      placeholder: 'r',
      description: 'Penalise tokens already present (1: none; HF semantics)',
    },
    seed: {
      type: 'integer',
      min: 0,
      placeholder: 's',
      description: 'Random seed for sampling (same seed, same text)',
    },
    stop: {
      type: 'string',
      multiple: true,
      placeholder: 'text',
      description: 'Stop when the new text contains this string (repeatable)',
    },
    dtype: {
      type: 'string',
      choices: ['f32', 'f16', 'bf16'],
      description: 'Compute dtype (default f32; weights keep their stored dtype)',
    },
    adapter: {
      type: 'string',
      placeholder: 'dir',
      description: 'A PEFT LoRA adapter folder to apply to the model before generating',
    },
    ...BACKEND_OPTION,
    ...ACTIVATIONS_OPTION,
    ...MODEL_OPTIONS,
    json: {
      type: 'boolean',
      description: 'Print {"prompt_tokens","tokens","text"} as one JSON object, no streaming',
    },
  },
  examples: [
    "slimlm generate wikillama --prompt 'The history of'",
    "slimlm generate ./stories260K --prompt 'Once upon a time' --max-new-tokens 40 --json",
    "slimlm generate wikillama --prompt 'In 1990' --temperature 0.8 --top-p 0.95 --seed 7",
    "slimlm generate wikillama --adapter ./wikillama-lora --prompt 'Below is an instruction'",
  ],
  async run({ positionals, options }, { out }) {
    const argument = positionals[0]!;
    if (options.stop.includes('')) throw new UsageError("option '--stop' needs a non-empty string");
    const adapter =
      options.adapter === undefined ? undefined : readAdapterArgument(options.adapter, out);
    const backend = await selectBackend(options.backend as (typeof BACKENDS)[number], out);
    const { folder } = await resolveModel(argument, {
      ...(options.revision === undefined ? {} : { revision: options.revision }),
      out,
    });

    const loaded = await loadWithProgress(folder, argument, backend, options.dtype, out, {
      activations: options.activations,
    });
    try {
      if (adapter) applyAdapterArgument(loaded.model, adapter);
      const generation: GenerateOptions = {
        maxNewTokens: options['max-new-tokens'] ?? defaultMaxNewTokens(loaded, options.prompt),
        temperature: options.temperature ?? 0,
        stopStrings: options.stop,
        ...defined({
          // 0 means "all tokens" here; the library turns top-k off at the vocabulary size.
          topK: options['top-k'] === 0 ? loaded.config.vocabSize : options['top-k'],
          topP: options['top-p'],
          repetitionPenalty: options['repetition-penalty'],
          seed: options.seed,
        }),
      };
      // The prompt is echoed with the first token, so that a rejected request prints nothing.
      let echoed = out.json;
      const echo = () => {
        if (!echoed) out.write(options.prompt);
        echoed = true;
      };
      if (!out.json) {
        generation.onToken = (event) => {
          echo();
          out.write(event.text);
        };
      }
      const generatingSince = performance.now();
      const result = generateText(loaded, options.prompt, generation);
      const elapsed = performance.now() - generatingSince;
      if (out.json) {
        const json: GenerateJson = {
          prompt_tokens: result.promptTokens,
          tokens: result.tokens,
          text: result.text,
        };
        out.result(json);
        return;
      }
      echo();
      out.write('\n');
      const perSecond = result.tokens.length / Math.max(elapsed / 1000, 1e-9);
      out.diag(
        `${result.tokens.length} tokens in ${formatSeconds(elapsed)} (${perSecond.toFixed(1)} tokens/s, stopped by ${result.finishReason})`,
      );
    } finally {
      loaded.dispose();
    }
  },
});

/**
 * generation_config.json's length when it gives one (the library applies it), else
 * DEFAULT_MAX_NEW_TOKENS, shortened to fit the model's positions after the prompt.
 */
function defaultMaxNewTokens(loaded: LoadedModel, prompt: string): number | undefined {
  const generation = loaded.generationConfig;
  if (generation?.maxNewTokens !== undefined || generation?.maxLength !== undefined)
    return undefined;
  const { maxPositions } = loaded.config;
  if (!(Number.isFinite(maxPositions) && maxPositions > 0)) return DEFAULT_MAX_NEW_TOKENS;
  const promptLength = loaded.tokenizer.encode(prompt).length;
  return Math.max(0, Math.min(DEFAULT_MAX_NEW_TOKENS, maxPositions - promptLength));
}

/** The entries whose value is defined, so that library defaults apply to the rest. */
function defined<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(values).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}
