#!/usr/bin/env node
/**
 * A Markdown table and an SVG chart of perplexity against weight size for quantizations of one
 * model, from `slimlm eval ppl --json` results.
 *
 *   node packages/eval-metrics/scripts/quantization-report.mjs --svg chart.svg \
 *     FOLDER=RESULT.json [FOLDER=RESULT.json ...]
 *
 * FOLDER is the model folder the result was measured on (its config.json says how the weights are
 * stored; its *.safetensors files give the size). All results must share one protocol and seqlen.
 */
import { readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeWeights, markdownTable, svgChart, weightsLabel } from '@slimlm/eval-metrics';
import { resolveModelFolder } from '@slimlm/models';

const { values, positionals } = parseArgs({
  options: { svg: { type: 'string' }, title: { type: 'string' } },
  allowPositionals: true,
});
if (positionals.length === 0) {
  console.error('usage: quantization-report.mjs [--svg out.svg] FOLDER=RESULT.json ...');
  process.exit(2);
}

const rows = [];
for (const pair of positionals) {
  const [model, resultFile] = pair.split('=');
  const folder = await resolveModelFolder(model);
  const result = JSON.parse(readFileSync(resultFile, 'utf8'));
  const weights = describeWeights(folder);
  const bytes = readdirSync(folder)
    .filter((name) => name.endsWith('.safetensors'))
    .reduce((sum, name) => sum + statSync(join(folder, name)).size, 0);
  rows.push({ model, weights, megabytes: bytes / 1e6, result });
}
const protocols = new Set(rows.map((r) => `${r.result.protocol} @ ${r.result.seqlen}`));
if (protocols.size !== 1) {
  console.error(`the results mix protocols: ${[...protocols].join(', ')}`);
  process.exit(1);
}
const [protocol] = protocols;

console.log(
  markdownTable(
    ['model', 'weights', 'bits', 'size (MB)', 'perplexity', 'windows'],
    rows.map((r) => [
      r.model,
      weightsLabel(r.weights),
      r.weights.bits ?? 16,
      Number(r.megabytes.toFixed(2)),
      Number(r.result.ppl.toFixed(4)),
      r.result.windows,
    ]),
  ),
);
console.log(`\nprotocol: ${protocol}`);

if (values.svg) {
  const series = new Map();
  for (const r of rows) {
    const name = r.weights.method === 'fp' ? 'full precision' : r.weights.method.toUpperCase();
    const label =
      r.weights.method === 'fp'
        ? (r.weights.dtype ?? 'fp')
        : weightsLabel(r.weights).split(' (')[0];
    if (!series.has(name)) series.set(name, []);
    series
      .get(name)
      .push({ x: Number(r.megabytes.toFixed(3)), y: Number(r.result.ppl.toFixed(4)), label });
  }
  const svg = svgChart({
    title: values.title ?? 'Perplexity against size',
    xLabel: 'weights on disk (MB)',
    yLabel: `perplexity (${protocol})`,
    series: [...series].map(([name, points]) => ({ name, points })),
  });
  // Written beside the target and renamed into place, so a reader never sees half a file.
  writeFileSync(`${values.svg}.tmp`, svg);
  renameSync(`${values.svg}.tmp`, values.svg);
  console.error(`wrote ${values.svg}`);
}
