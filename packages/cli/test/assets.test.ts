import { readFileSync } from 'node:fs';
import { loadTokenizer } from '@slimlm/hub';
import { describe, expect, it } from 'vitest';
import { EMBEDDED_TEXTS } from '../src/assets';
import { REPO_ROOT, WIKILLAMA } from './helpers';

const WIKITEXT_TEST = `${REPO_ROOT}fixtures/wikitext-2-raw/wiki.test.raw`;
const C4 = `${REPO_ROOT}fixtures/c4/c4-sample.utf8`;

describe('the embedded texts', () => {
  it('are the byte ranges of the fixtures that assets/README.md names', () => {
    const wikitext = readFileSync(EMBEDDED_TEXTS.evaluation.path);
    expect(wikitext.byteLength).toBe(101_734);
    expect(wikitext.equals(readFileSync(WIKITEXT_TEST).subarray(0, 101_734))).toBe(true);
    // It ends after a whole article: the next line of the test split is a title.
    expect(readFileSync(WIKITEXT_TEST).subarray(101_734, 101_737).toString()).toBe(' = ');

    const c4 = readFileSync(EMBEDDED_TEXTS.calibration.path, 'utf8');
    const documents = readFileSync(C4, 'utf8').split('\n').slice(0, 51);
    expect(c4).toBe(`${documents.join('\n')}\n`);
  });

  it("hold the WikiText-2 test split's first 128 windows of 256 wikillama tokens", async () => {
    const tokenizer = await loadTokenizer(WIKILLAMA);
    const excerpt = tokenizer.encode(readFileSync(EMBEDDED_TEXTS.evaluation.path, 'utf8'));
    const whole = tokenizer.encode(readFileSync(WIKITEXT_TEST, 'utf8'));
    expect(excerpt.length).toBeGreaterThanOrEqual(128 * 256);
    // So the workflow's perplexity windows are those of the published protocol on the full file.
    expect(excerpt.slice(0, 128 * 256)).toEqual(whole.slice(0, 128 * 256));
  });
});
