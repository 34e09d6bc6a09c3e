import { fileURLToPath } from 'node:url';

// This file sits directly in src/, as the bundle sits directly in dist/: from either, '../assets/'
// is the package's assets folder (shipped through package.json "files").
const ASSETS = new URL('../assets/', import.meta.url);

/** A text file shipped with the package, so that `slimlm workflow` needs no network. */
export interface EmbeddedText {
  path: string;
  /** What it is, as the workflow's output names it. */
  label: string;
}

/** The default calibration and evaluation texts (provenance and licences in assets/README.md). */
export const EMBEDDED_TEXTS = {
  calibration: {
    path: fileURLToPath(new URL('c4-head.txt', ASSETS)),
    label: 'the embedded C4 excerpt (51 documents of allenai/c4, en)',
  },
  evaluation: {
    path: fileURLToPath(new URL('wikitext2-test-head.txt', ASSETS)),
    label: 'the embedded WikiText-2 test excerpt (its first 101,734 bytes)',
  },
} as const satisfies Record<string, EmbeddedText>;
