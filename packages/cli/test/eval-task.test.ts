import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvalTaskJson } from '../src/commands/eval';
import { runCli, STORIES } from './helpers';

let dir: string;
let data: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'slimlm-eval-task-'));
  data = join(dir, 'heldout.jsonl');
  writeFileSync(
    data,
    [
      JSON.stringify({
        prompt: 'Once upon a time',
        response: 'There was a little girl named Lily.',
      }),
      '',
      JSON.stringify({
        prompt: 'One day, Tom',
        response: ['went to the park with his mom', 'went home'],
      }),
    ].join('\n'),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TASK = ['eval', 'task', STORIES, '--max-new-tokens', '12', '--stop', '.'];

describe('slimlm eval task', () => {
  it('generates greedy answers and scores them (values worked out by hand)', async () => {
    const { code, stdout, stderr } = await runCli([
      ...TASK,
      '--data',
      data,
      '--metrics',
      'exactMatch,tokenF1,rougeL,bleu',
      '--json',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const json = JSON.parse(stdout) as EvalTaskJson;
    expect(Object.keys(json).sort()).toEqual(
      ['model', 'data', 'examples', 'scores', 'generated_tokens', 'max_new_tokens'].sort(),
    );
    expect(json).toMatchObject({ model: STORIES, data, examples: 2, max_new_tokens: 12 });
    // The answers are ", there was a little girl named Lily" and "and his mom went to the park".
    expect(json.scores.exactMatch).toBeCloseTo(0.5, 12);
    expect(json.scores.tokenF1).toBeCloseTo((1 + 5 / 6) / 2, 12);
    expect(json.scores.rougeL).toBeCloseTo((1 + 4 / 7) / 2, 12);
    expect(json.scores.bleu).toBeGreaterThan(0);
    expect(Object.keys(json.scores).sort()).toEqual(['bleu', 'exactMatch', 'rougeL', 'tokenF1']);
  });

  it('prints a table for people, with a progress bar on a terminal; --limit takes the first examples', async () => {
    const { code, stdout, stderr } = await runCli([...TASK, '--data', data, '--limit', '1'], {
      tty: true,
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^exactMatch +1\.0000$/m);
    expect(stdout).toMatch(/^accuracy +0\.0000$/m);
    expect(stdout).toMatch(/^bleu +\d+\.\d\d$/m);
    expect(stdout).toMatch(/^examples +1 from .*heldout\.jsonl$/m);
    expect(stderr).toContain('1/1 examples');
    expect(stderr).toMatch(/generated \d+ tokens in/);
  });

  it('reads any record format of @slimlm/datasets, and renders records with --template', async () => {
    const csv = join(dir, 'heldout.csv');
    writeFileSync(
      csv,
      'prompt,response\nOnce upon a time,There was a little girl named Lily.\nOne day,x\n',
    );
    const fromCsv = await runCli([...TASK, '--data', csv, '--metrics', 'exactMatch', '--json']);
    expect(fromCsv.code).toBe(0);
    expect((JSON.parse(fromCsv.stdout) as EvalTaskJson).scores.exactMatch).toBeCloseTo(0.5, 12);

    const alpaca = join(dir, 'alpaca.jsonl');
    writeFileSync(
      alpaca,
      `${JSON.stringify({ instruction: 'Tell a story.', input: '', output: 'Once upon a time' })}\n`,
    );
    const rendered = await runCli([
      ...TASK,
      '--data',
      alpaca,
      '--template',
      'alpaca',
      '--metrics',
      'rougeL',
      '--json',
    ]);
    expect(rendered.code).toBe(0);
    expect(JSON.parse(rendered.stdout)).toMatchObject({ examples: 1 });
    writeFileSync(alpaca, `${JSON.stringify({ instruction: 'Tell a story.' })}\n`);
    const missing = await runCli([...TASK, '--data', alpaca, '--template', 'alpaca']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/alpaca\.jsonl, record 1: .*no "output" field/);
  });

  it('exits 2 on usage errors and 1 on a bad data file, naming the problem', async () => {
    const usage: [string[], RegExp][] = [
      [['eval', 'task', STORIES], /missing option '--data <file>' \(the examples to evaluate\)/],
      [
        ['eval', 'task', STORIES, '--data', data, '--metrics', 'f1'],
        /'--metrics' names 'f1', not a task metric/,
      ],
      [
        ['eval', 'task', STORIES, '--data', data, '--text', data],
        /'--text' does not apply to eval task/,
      ],
      [
        ['eval', 'task', STORIES, '--data', data, '--stop', ''],
        /'--stop' needs a non-empty string/,
      ],
      [['eval', 'ppl', STORIES], /missing option '--text <file>'/],
    ];
    for (const [argv, message] of usage) {
      const { code, stderr } = await runCli(argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(stderr).toMatch(message);
    }
    const bad = join(dir, 'bad.jsonl');
    const cases: [string, RegExp][] = [
      ['{"prompt": "a", "response": "b"}\n{oops}\n', /bad\.jsonl: line 2 is not JSON/],
      [
        '{"prompt": "a"}\n',
        /bad\.jsonl, record 1: expected "response" as a string or a non-empty list/,
      ],
      [
        '{"response": "b"}\n',
        /bad\.jsonl, record 1: expected a non-empty string "prompt" \(or give --template\)/,
      ],
      ['\n\n', /bad\.jsonl: no records/],
    ];
    for (const [content, message] of cases) {
      writeFileSync(bad, content);
      const { code, stdout, stderr } = await runCli([
        'eval',
        'task',
        STORIES,
        '--data',
        bad,
        '--json',
      ]);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toMatch(message);
    }
  });
});
