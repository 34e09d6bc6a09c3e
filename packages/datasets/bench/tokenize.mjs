#!/usr/bin/env node
// Time to tokenize a whole file in one encode: @huggingface/tokenizers as it is (one BPE word
// for tokenizers without a pre-tokenizer) against @slimlm/hub's Tokenizer.encode (long words cut
// where no merge can cross), and whether the ids are identical. Needs @slimlm/hub built.
//   node bench/tokenize.mjs [--repeat 3] [--skip-library] [--json]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Tokenizer as LibraryTokenizer } from '@huggingface/tokenizers';
import { loadTokenizer } from '@slimlm/hub';

const { values } = parseArgs({
  options: {
    repeat: { type: 'string', default: '3' },
    'skip-library': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const root = fileURLToPath(new URL('../../../', import.meta.url));
const tokenizers = {
  wikillama: join(root, 'packages/models/assets/wikillama-7m'),
  stories260K: join(root, 'fixtures/stories260K-hf'),
  'opt-125m': join(root, 'fixtures/datasets/opt-125m-tokenizer'),
};
const texts = {
  'wikitext-2 test': join(root, 'fixtures/wikitext-2-raw/wiki.test.raw'),
  'c4 sample': join(root, 'fixtures/c4/c4-sample.utf8'),
};
const repeat = Number(values.repeat);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const seconds = (fn) => {
  const started = performance.now();
  const result = fn();
  return { result, s: (performance.now() - started) / 1000 };
};

const rows = [];
for (const [name, folder] of Object.entries(tokenizers)) {
  const slimlm = await loadTokenizer(folder);
  const library = new LibraryTokenizer(
    JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8')),
    {},
  );
  for (const [textName, path] of Object.entries(texts)) {
    const text = readFileSync(path, 'utf8');
    const runs = Array.from({ length: repeat }, () =>
      seconds(() => slimlm.encode(text, { addSpecialTokens: false })),
    );
    const ids = runs[0].result;
    const row = {
      tokenizer: name,
      text: textName,
      mb: +(Buffer.byteLength(text) / 1e6).toFixed(2),
      tokens: ids.length,
      slimlm_s: +median(runs.map((r) => r.s)).toFixed(3),
      library_s: null,
      identical: null,
    };
    if (!values['skip-library']) {
      const once = seconds(() => library.encode(text, { add_special_tokens: false }).ids);
      row.library_s = +once.s.toFixed(3);
      row.identical =
        once.result.length === ids.length && once.result.every((id, i) => id === ids[i]);
    }
    rows.push(row);
    if (!values.json) console.error(JSON.stringify(row));
  }
}
if (values.json) {
  console.log(JSON.stringify(rows));
} else {
  console.log(
    '| tokenizer | text | MB | tokens | @huggingface/tokenizers, one encode (s) | slimlm encode (s) | identical ids |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.tokenizer} | ${r.text} | ${r.mb} | ${r.tokens} | ${r.library_s ?? '-'} | ${r.slimlm_s} | ${r.identical ?? '-'} |`,
    );
  }
}
