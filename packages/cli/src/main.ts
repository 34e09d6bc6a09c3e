import { version } from '../package.json';
import { wantsHelp } from './args';
import type { Command } from './command';
import { COMMANDS } from './commands/index';
import { EXIT_OK, EXIT_USAGE, reportError, UsageError } from './errors';
import { type CliIO, Output, processIO } from './io';

/**
 * Runs the `slimlm` command line (`argv` without node and the script) and resolves to the exit
 * status: 0 ok, 1 failure, 2 usage error. It never exits the process and writes only to `io`.
 */
export async function main(argv: readonly string[], io: Partial<CliIO> = {}): Promise<number> {
  const fullIO: CliIO = { ...processIO(), ...io };
  const [first, ...rest] = argv;
  const out = new Output(fullIO, false);
  try {
    if (first === '--version' || first === '-V') {
      out.line(version);
      return EXIT_OK;
    }
    if (first === undefined) {
      fullIO.stderr.write(globalHelp());
      return EXIT_USAGE;
    }
    if (first === '--help' || first === '-h') {
      out.write(globalHelp());
      return EXIT_OK;
    }
    if (first === 'help') {
      const command = rest[0] === undefined ? undefined : findCommand(rest[0]);
      out.write(command ? command.help() : globalHelp());
      return EXIT_OK;
    }
    if (first.startsWith('-'))
      throw new UsageError(`unknown option '${first}' (expected a command first)`);
    const command = findCommand(first);
    const json =
      command.acceptsJson && !wantsHelp(rest) && beforeTerminator(rest).includes('--json');
    try {
      await command.execute(rest, { out: new Output(fullIO, json) });
    } catch (error) {
      if (error instanceof UsageError) error.command = command.name;
      throw error;
    }
    return EXIT_OK;
  } catch (error) {
    return reportError(error, fullIO, usageHint);
  }
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    throw new UsageError(
      `unknown command '${name}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})`,
    );
  }
  return command;
}

function usageHint(commandName?: string): string {
  const command = COMMANDS.find((c) => c.name === commandName);
  if (command)
    return `usage: ${command.usage()}\nRun 'slimlm ${command.name} --help' for details.\n`;
  return "usage: slimlm <command> [options]\nRun 'slimlm --help' for the commands.\n";
}

function beforeTerminator(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--');
  return end < 0 ? argv : argv.slice(0, end);
}

function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `slimlm ${version}: make large language models lighter and more specialised`,
    '',
    'usage: slimlm <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'options:',
    '  -h, --help     Show help (slimlm <command> --help for a command)',
    '  -V, --version  Print the version',
    '',
    'A <model> is a local folder, a built-in name (wikillama) or a Hugging Face Hub id (owner/name).',
    'Exit status: 0 ok, 1 failure, 2 usage error. SLIMLM_DEBUG=1 prints stack traces.',
    '',
  ].join('\n');
}
