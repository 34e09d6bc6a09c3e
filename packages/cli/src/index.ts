/**
 * @slimlm/cli: the `slimlm` command. `main(argv, io)` runs it in-process (the bin calls it with
 * process.argv); commands live one per file under src/commands/.
 */
export type { OptionSpec, OptionSpecs, ParsedArgs, ParsedOptions, PositionalSpec } from './args';
export { parseCommandArgs } from './args';
export type { Command, CommandContext, CommandDefinition } from './command';
export { defineCommand } from './command';
export type { GenerateJson } from './commands/generate';
export { COMMANDS } from './commands/index';
export type { DTypeSummary, ModelInfo } from './commands/info';
export { modelInfo } from './commands/info';
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors';
export type { CliIO, TextSink } from './io';
export { Output } from './io';
export { main } from './main';
