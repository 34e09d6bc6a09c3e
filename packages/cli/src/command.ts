import {
  formatOptionName,
  type OptionSpecs,
  type ParsedArgs,
  type PositionalSpec,
  parseCommandArgs,
  wantsHelp,
} from './args';
import type { Output } from './io';

/** What every command's `run` receives besides its arguments. */
export interface CommandContext {
  out: Output;
}

export interface CommandDefinition<O extends OptionSpecs> {
  name: string;
  /** One line, for `slimlm --help`. */
  summary: string;
  /** A paragraph or two for `slimlm <command> --help`. */
  description?: string;
  positionals: readonly PositionalSpec[];
  options: O;
  examples?: readonly string[];
  run(args: ParsedArgs<O>, context: CommandContext): Promise<void>;
}

/** A command with its options erased, as the dispatcher holds them. */
export interface Command {
  name: string;
  summary: string;
  /** Whether the command has a --json option (the dispatcher then knows before running it). */
  acceptsJson: boolean;
  usage(): string;
  help(): string;
  /** Prints help when `argv` asks for it; otherwise parses `argv` (UsageError when wrong) and runs. */
  execute(argv: readonly string[], context: CommandContext): Promise<void>;
}

/** Options every command has; `--help` is answered before parsing, so a bad line still gets help. */
const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h', description: 'Show this help' },
} as const;

export function defineCommand<O extends OptionSpecs>(definition: CommandDefinition<O>): Command {
  const options: OptionSpecs = { ...definition.options, ...COMMON_OPTIONS };
  const usage = (): string => {
    const positionals = definition.positionals
      .map((p) => (p.required === false ? `[${p.name}]` : `<${p.name}>`))
      .join(' ');
    const required = Object.entries(definition.options)
      .filter(([, spec]) => spec.type !== 'boolean' && spec.required)
      .map(([name, spec]) => formatOptionName(name, spec).trim())
      .join(' ');
    return ['slimlm', definition.name, positionals, required, '[options]']
      .filter(Boolean)
      .join(' ');
  };
  return {
    name: definition.name,
    summary: definition.summary,
    acceptsJson: 'json' in definition.options,
    usage,
    help() {
      const lines = [`usage: ${usage()}`, '', definition.summary];
      if (definition.description) lines.push('', definition.description);
      if (definition.positionals.length > 0) {
        lines.push('', 'arguments:');
        const width = Math.max(...definition.positionals.map((p) => p.name.length + 2));
        for (const p of definition.positionals) {
          lines.push(`  ${`<${p.name}>`.padEnd(width)}  ${p.description}`);
        }
      }
      lines.push('', 'options:');
      const names = Object.entries(options).map(
        ([name, spec]) => [formatOptionName(name, spec), spec.description] as const,
      );
      const width = Math.max(...names.map(([name]) => name.length));
      for (const [name, description] of names)
        lines.push(`  ${name.padEnd(width)}  ${description}`);
      if (definition.examples?.length) {
        lines.push('', 'examples:', ...definition.examples.map((e) => `  ${e}`));
      }
      return `${lines.join('\n')}\n`;
    },
    async execute(argv, context) {
      if (wantsHelp(argv)) {
        context.out.write(this.help());
        return;
      }
      const args = parseCommandArgs(argv, definition.options, definition.positionals);
      await definition.run(args, context);
    },
  };
}
