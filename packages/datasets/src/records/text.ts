import type { DataRecord } from './record';
import { readText, textLines } from './text-stream';

/** How a text file becomes records, as Hugging Face datasets' text loader's `sample_by`. */
export type SampleBy = 'line' | 'paragraph' | 'document';

/**
 * Records `{text}` of a plain text file: one per line (line ends removed, empty lines kept),
 * one per paragraph (text between blank lines), or the whole file as one.
 */
export async function* textRecords(path: string, sampleBy: SampleBy): AsyncGenerator<DataRecord> {
  if (sampleBy === 'line') {
    for await (const line of textLines(path)) yield { text: line };
    return;
  }
  const text = await readText(path);
  if (sampleBy === 'document') {
    yield { text };
    return;
  }
  for (const paragraph of text.split(/\r?\n(?:[ \t]*\r?\n)+/)) {
    if (paragraph.trim() !== '') yield { text: paragraph };
  }
}
