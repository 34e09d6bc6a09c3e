#!/usr/bin/env node
// Writes fixtures/datasets/alpaca-100.parquet from the 100 real Alpaca rows of
// fixtures/datasets/alpaca-100.json with hyparquet-writer: snappy pages (its default codec), two
// row groups of 50 rows, so the tests read a multi-group, compressed file.
//   node scripts/write-parquet-fixture.mjs
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parquetWriteFile } from 'hyparquet-writer';

const fixtures = fileURLToPath(new URL('../../../fixtures/datasets/', import.meta.url));
const rows = JSON.parse(readFileSync(`${fixtures}alpaca-100.json`, 'utf8'));
parquetWriteFile({
  filename: `${fixtures}alpaca-100.parquet`,
  columnData: ['instruction', 'input', 'output'].map((name) => ({
    name,
    data: rows.map((row) => row[name]),
    type: 'STRING',
  })),
  rowGroupSize: 50,
});
console.log(`wrote ${rows.length} rows to ${fixtures}alpaca-100.parquet`);
