// This file deliberately does NOT import @slimlm/gptq: vitest runs each test file in its own
// module graph, so the 'gptq' method is not registered here.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readJsonFile } from '@slimlm/hub';
import { modelFromFolder } from '@slimlm/models';
import { afterAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const stories = join(root, 'fixtures/stories260K-hf');
const folder = mkdtempSync(join(tmpdir(), 'slimlm-gptq-unregistered-'));

afterAll(() => rmSync(folder, { recursive: true, force: true }));

it('says to install and import @slimlm/gptq when config.json asks for gptq without it', () => {
  const config = readJsonFile(join(stories, 'config.json')) as Record<string, unknown>;
  const quantization = {
    bits: 4,
    group_size: 32,
    desc_act: false,
    sym: true,
    quant_method: 'gptq',
  };
  writeFileSync(
    join(folder, 'config.json'),
    JSON.stringify({ ...config, quantization_config: quantization }),
  );
  copyFileSync(join(stories, 'model.safetensors'), join(folder, 'model.safetensors'));
  expect(() => modelFromFolder(folder)).toThrow(
    /quant_method 'gptq' needs @slimlm\/gptq: install it and import it before loading/,
  );
});
