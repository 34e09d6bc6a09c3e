import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { asyncBufferFromFile, parquetMetadataAsync } from 'hyparquet';
import { parquetWriteFile } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { rejection } from '../../hub/test/helpers/errors';
import { readRecords, streamRecords } from '../src/index';
import { ALPACA, DATASETS, FIXTURES, scratchFolder } from './helpers/fixtures';

const scratch = scratchFolder('records');
const fixture = (name: string) => join(DATASETS, name);

async function expectRejection(promise: Promise<unknown>, code: string, ...parts: RegExp[]) {
  const error = await rejection(promise);
  expect(error.code, error.message).toBe(code);
  for (const part of parts) expect(error.message).toMatch(part);
}

describe('JSON', () => {
  it('reads an array of records (100 real Alpaca rows)', async () => {
    const records = await readRecords(fixture('alpaca-100.json'));
    expect(records).toEqual(ALPACA);
    expect(records[1]).toEqual({
      instruction: 'Arrange the following musical notes',
      input: 'G, B, E',
      output: 'E, G, B',
    });
  });

  it('reads the array under a field, strings as {text}, and JSON Lines under a .json name', async () => {
    const nested = join(scratch, 'nested.json');
    writeFileSync(nested, JSON.stringify({ version: 1, data: ALPACA.slice(0, 3) }));
    expect(await readRecords(nested, { field: 'data' })).toEqual(ALPACA.slice(0, 3));

    const strings = join(scratch, 'strings.json');
    writeFileSync(strings, JSON.stringify(['one', 'two']));
    expect(await readRecords(strings)).toEqual([{ text: 'one' }, { text: 'two' }]);

    // allenai/c4 names its JSON Lines shards .json.gz.
    const lines = join(scratch, 'lines.json.gz');
    writeFileSync(
      lines,
      gzipSync(
        `${ALPACA.slice(0, 4)
          .map((r) => JSON.stringify(r))
          .join('\n')}\n`,
      ),
    );
    expect(await readRecords(lines)).toEqual(ALPACA.slice(0, 4));
  });

  it('names the file and what is wrong', async () => {
    const broken = join(scratch, 'broken.json');
    writeFileSync(broken, '[{"a": 1},');
    await expectRejection(readRecords(broken), 'INVALID_FILE', /broken\.json: not JSON/);
    const object = join(scratch, 'object.json');
    writeFileSync(object, '{\n  "data": []\n}\n');
    await expectRejection(readRecords(object), 'INVALID_FILE', /line 1 is not JSON/, /field/);
    await expectRejection(
      readRecords(object, { field: 'rows' }),
      'INVALID_FILE',
      /"rows" field is an array/,
    );
    const numbers = join(scratch, 'numbers.json');
    writeFileSync(numbers, '[1, 2]');
    await expectRejection(readRecords(numbers), 'INVALID_FILE', /item 0 is a number/);
  });
});

describe('JSON Lines', () => {
  it('streams the real seed tasks, one object per line', async () => {
    const records = await readRecords(fixture('seed-tasks-20.jsonl'));
    expect(records).toHaveLength(20);
    expect(records[0]).toMatchObject({
      id: 'seed_task_0',
      name: 'breakfast_suggestion',
      is_classification: false,
    });
    expect(records[1]).toMatchObject({
      instances: [
        {
          input: 'Night : Day :: Right : Left',
          output: 'The relation between the given pairs is that they are opposites.',
        },
      ],
    });
  });

  it('stops reading at the limit, gzipped or not, and skips blank lines', async () => {
    const gz = join(scratch, 'alpaca.jsonl.gz');
    writeFileSync(gz, gzipSync(`${ALPACA.map((r) => `${JSON.stringify(r)}\r\n\n`).join('')}`));
    expect(await readRecords(gz)).toEqual(ALPACA);
    expect(await readRecords(gz, { limit: 7 })).toEqual(ALPACA.slice(0, 7));
    expect(await readRecords(gz, { limit: 0 })).toEqual([]);
  });

  it('names the line that is not a JSON object', async () => {
    const bad = join(scratch, 'bad.jsonl');
    writeFileSync(bad, '{"a": 1}\n\n[1, 2]\n');
    await expectRejection(readRecords(bad), 'INVALID_FILE', /bad\.jsonl: line 3 is an array/);
    writeFileSync(bad, '{"a": 1}\n{"b": \n');
    await expectRejection(readRecords(bad), 'INVALID_FILE', /line 2 is not JSON/);
  });
});

describe('CSV', () => {
  it("reads Python's csv module output of the same rows exactly (quotes, commas, CRLF, line breaks in fields)", async () => {
    const records = await readRecords(fixture('alpaca-100.csv'));
    expect(records).toEqual(ALPACA);
    // Row 0's input holds a line break, row 1's fields hold commas.
    expect(records[0]!.input).toBe(
      'Sentence 1: I am going to the store.\nSentence 2: I goes to the store.',
    );
  });

  it('keeps values as strings, reads doubled quotes and TSV', async () => {
    const reviews = await readRecords(fixture('reviews.csv'));
    expect(reviews).toHaveLength(12);
    expect(reviews[6]).toEqual({
      product: 'desk lamp',
      review: 'Bright enough, though the "warm" setting looks rather blue to me.',
      rating: '3',
    });
    const tsv = join(scratch, 'table.tsv');
    writeFileSync(tsv, 'a\tb\n1\t"x\ty"\n2\t\n');
    expect(await readRecords(tsv)).toEqual([
      { a: '1', b: 'x\ty' },
      { a: '2', b: '' },
    ]);
  });

  it('names rows with the wrong number of fields, unclosed quotes and repeated columns', async () => {
    const bad = join(scratch, 'bad.csv');
    writeFileSync(bad, 'a,b\n1,2\n"multi\nline",2,3\n');
    await expectRejection(
      readRecords(bad),
      'INVALID_FILE',
      /row starting on line 3 has 3 fields, the header 2/,
    );
    writeFileSync(bad, 'a,b\n1,"open\n');
    await expectRejection(
      readRecords(bad),
      'INVALID_FILE',
      /quoted field opened on line 2 is never closed/,
    );
    writeFileSync(bad, 'a,a\n1,2\n');
    await expectRejection(readRecords(bad), 'INVALID_FILE', /column "a" twice/);
  });
});

describe('Parquet', () => {
  it('reads the snappy-compressed fixture written by hyparquet-writer, row group by row group', async () => {
    const path = fixture('alpaca-100.parquet');
    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(path));
    expect(metadata.row_groups).toHaveLength(2);
    const codecs = metadata.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec));
    expect(new Set(codecs)).toEqual(new Set(['SNAPPY']));
    expect(await readRecords(path)).toEqual(ALPACA);
    expect(await readRecords(path, { limit: 55 })).toEqual(ALPACA.slice(0, 55));
  });

  it('reads gzip-compressed pages and 64-bit integers', async () => {
    const path = join(scratch, 'gzip.parquet');
    parquetWriteFile({
      filename: path,
      codec: 'GZIP',
      compressors: { GZIP: (bytes: Uint8Array) => new Uint8Array(gzipSync(bytes)) },
      columnData: [
        { name: 'text', data: ALPACA.slice(0, 10).map((r) => r.output), type: 'STRING' },
        { name: 'id', data: [...Array(10).keys()].map((i) => BigInt(i) * 1000n), type: 'INT64' },
        { name: 'big', data: [...Array(10).keys()].map(() => 2n ** 60n), type: 'INT64' },
      ],
    });
    const metadata = await parquetMetadataAsync(await asyncBufferFromFile(path));
    expect(metadata.row_groups[0]!.columns[0]!.meta_data?.codec).toBe('GZIP');
    const records = await readRecords(path);
    expect(records.map((r) => r.text)).toEqual(ALPACA.slice(0, 10).map((r) => r.output));
    expect(records.map((r) => r.id)).toEqual([
      0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000,
    ]);
    expect(records[0]!.big).toBe(2n ** 60n);
  });

  it('says a file that is not Parquet is not Parquet', async () => {
    const fake = join(scratch, 'fake.parquet');
    writeFileSync(fake, 'not parquet at all');
    await expectRejection(readRecords(fake), 'INVALID_FILE', /fake\.parquet: not a Parquet file/);
  });
});

describe('plain text', () => {
  const wiki = join(FIXTURES, 'wikitext-2-raw/wiki.test.raw');

  it('reads lines, paragraphs or the whole document', async () => {
    const lines = await readRecords(wiki, { limit: 4 });
    expect(lines).toEqual([
      { text: ' ' },
      { text: ' = Robert Boulter = ' },
      { text: ' ' },
      {
        text: expect.stringMatching(
          /^ Robert Boulter is an English film , television and theatre actor \./,
        ),
      },
    ]);
    const path = join(scratch, 'paragraphs.txt');
    writeFileSync(path, 'first line\nstill first\n\n  \nsecond\r\n\r\nthird\n');
    expect(await readRecords(path, { sampleBy: 'paragraph' })).toEqual([
      { text: 'first line\nstill first' },
      { text: 'second' },
      { text: 'third\n' },
    ]);
    const [whole] = await readRecords(wiki, { sampleBy: 'document' });
    expect((whole!.text as string).length).toBe(1_288_556);
  });

  it('refuses unknown extensions, missing files and folders, and unknown options', async () => {
    const odd = join(scratch, 'data.xyz');
    writeFileSync(odd, 'x');
    await expectRejection(readRecords(odd), 'INVALID_ARGUMENT', /extension "xyz"/, /format/);
    expect(await readRecords(odd, { format: 'text' })).toEqual([{ text: 'x' }]);
    await expectRejection(readRecords(join(scratch, 'none.json')), 'NOT_FOUND', /no such file/);
    await expectRejection(
      readRecords(scratch, { format: 'json' }),
      'INVALID_ARGUMENT',
      /is a folder/,
    );
    await expectRejection(
      readRecords(odd, { format: 'yaml' as 'json' }),
      'INVALID_ARGUMENT',
      /format must be one of/,
    );
    await expectRejection(
      readRecords(odd, { format: 'text', sampleBy: 'word' as 'line' }),
      'INVALID_ARGUMENT',
      /sampleBy/,
    );
  });

  it('streams: stopping early leaves the rest unread', async () => {
    const seen: string[] = [];
    for await (const record of streamRecords(wiki)) {
      seen.push(record.text as string);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([' ', ' = Robert Boulter = ']);
  });
});
