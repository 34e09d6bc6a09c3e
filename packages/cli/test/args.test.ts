import { describe, expect, it } from 'vitest';
import { parseCommandArgs } from '../src/args';
import { UsageError } from '../src/errors';

const SPECS = {
  prompt: { type: 'string', required: true, placeholder: 'text', description: 'the prompt' },
  count: { type: 'integer', min: 1, description: 'how many' },
  ratio: { type: 'number', min: 0, exclusiveMin: true, max: 1, description: 'a ratio' },
  temperature: { type: 'number', min: 0, description: 'heat' },
  stop: { type: 'string', multiple: true, description: 'stops' },
  mode: { type: 'string', choices: ['a', 'b'], description: 'mode' },
  json: { type: 'boolean', description: 'json' },
} as const;
const POSITIONALS = [{ name: 'model', description: 'the model' }];

const parse = (argv: string[]) => parseCommandArgs(argv, SPECS, POSITIONALS);

function usageMessage(argv: string[]): string {
  try {
    parse(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
}

describe('parseCommandArgs', () => {
  it('parses typed values, defaults and repeated options', () => {
    const { positionals, options } = parse([
      'm',
      '--prompt',
      'Once upon',
      '--count=3',
      '--ratio',
      '0.5',
      '--stop',
      'a',
      '--stop=b',
      '--json',
    ]);
    expect(positionals).toEqual(['m']);
    expect(options).toEqual({
      prompt: 'Once upon',
      count: 3,
      ratio: 0.5,
      temperature: undefined,
      stop: ['a', 'b'],
      mode: undefined,
      json: true,
    });
  });

  it('takes option values that begin with a dash when they are not options', () => {
    expect(parse(['m', '--prompt', '-x y']).options.prompt).toBe('-x y');
    expect(parse(['m', '--prompt=--json']).options.prompt).toBe('--json');
    expect(parse(['--prompt', 'p', '--', '--odd-folder']).positionals).toEqual(['--odd-folder']);
  });

  it('names the flag and the expected value in every usage error', () => {
    expect(usageMessage(['m', '--prompt', 'p', '--nope'])).toBe("unknown option '--nope'");
    expect(usageMessage(['m', '--prompt', 'p', '-z'])).toBe("unknown option '-z'");
    expect(usageMessage(['m', '--prompt'])).toBe(
      "option '--prompt' needs a value: --prompt <text>",
    );
    expect(usageMessage(['m', '--prompt', '--json'])).toMatch(
      /option '--prompt' needs a value, got the option '--json'/,
    );
    expect(usageMessage(['m', '--prompt', 'p', '--count', 'ten'])).toBe(
      "option '--count' expects an integer >= 1, got 'ten'",
    );
    expect(usageMessage(['m', '--prompt', 'p', '--count', '1.5'])).toBe(
      "option '--count' expects an integer >= 1, got '1.5'",
    );
    expect(usageMessage(['m', '--prompt', 'p', '--count', '0'])).toBe(
      "option '--count' expects an integer >= 1, got 0",
    );
    expect(usageMessage(['m', '--prompt', 'p', '--ratio', '0'])).toBe(
      "option '--ratio' expects a number > 0 and <= 1, got 0",
    );
    expect(usageMessage(['m', '--prompt', 'p', '--temperature', '-1'])).toBe(
      "option '--temperature' expects a number >= 0, got -1",
    );
    expect(usageMessage(['m', '--prompt', 'p', '--temperature', ''])).toMatch(/got ''/);
    expect(usageMessage(['m', '--prompt', 'p', '--mode', 'c'])).toBe(
      "option '--mode' must be one of a, b, got 'c'",
    );
    expect(usageMessage(['m', '--prompt', 'p', '--json=yes'])).toBe(
      "option '--json' takes no value (got 'yes')",
    );
    expect(usageMessage(['m', '--prompt', 'p', '--count', '2', '--count', '3'])).toBe(
      "option '--count' is given more than once",
    );
  });

  it('checks required options and positionals', () => {
    expect(usageMessage(['m'])).toBe("missing option '--prompt <text>' (the prompt)");
    expect(usageMessage(['--prompt', 'p'])).toBe('missing argument <model> (the model)');
    expect(usageMessage(['m', 'extra', '--prompt', 'p'])).toMatch(
      /^unexpected argument 'extra' after <model>/,
    );
  });
});
