import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { SlimlmError, type Tensor } from '@slimlm/core';
import { SafetensorsFile } from './read';
import type { ReadTensorOptions, TensorInfo, TensorSource } from './types';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

function invalidIndex(file: string, problem: string): SlimlmError {
  return new SlimlmError('INVALID_FILE', `safetensors index ${file}: ${problem}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A sharded checkpoint: `model.safetensors.index.json` maps each tensor to its shard. Shards open
 * on first use; each is checked, when it opens, to hold every tensor the index gives it.
 */
class ShardedCheckpoint implements TensorSource {
  readonly location: string;
  private readonly indexFile: string;
  private readonly weightMap = new Map<string, string>();
  private readonly shardNames = new Map<string, string[]>();
  private readonly shards = new Map<string, SafetensorsFile>();
  private readonly indexMetadata: Record<string, string> = {};
  private merged: Readonly<Record<string, string>> | undefined;
  private closed = false;

  constructor(folder: string, indexFile: string) {
    this.location = folder;
    this.indexFile = indexFile;
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(indexFile, 'utf8'));
    } catch (error) {
      throw invalidIndex(indexFile, `not readable JSON (${(error as Error).message})`);
    }
    if (!isPlainObject(json)) throw invalidIndex(indexFile, 'not a JSON object');
    const weightMap = json.weight_map;
    if (!isPlainObject(weightMap)) {
      throw invalidIndex(indexFile, 'weight_map must be an object of tensor name → shard file');
    }
    for (const [name, shard] of Object.entries(weightMap)) {
      if (typeof shard !== 'string' || shard === '') {
        throw invalidIndex(indexFile, `weight_map[${JSON.stringify(name)}] is not a file name`);
      }
      const path = resolve(folder, shard);
      if (!path.startsWith(folder + sep)) {
        throw invalidIndex(indexFile, `shard ${JSON.stringify(shard)} is outside ${folder}`);
      }
      this.weightMap.set(name, path);
      const names = this.shardNames.get(path);
      if (names === undefined) this.shardNames.set(path, [name]);
      else names.push(name);
    }
    for (const path of this.shardNames.keys()) {
      if (!existsSync(path) || !statSync(path).isFile()) {
        throw new SlimlmError(
          'NOT_FOUND',
          `safetensors index ${indexFile} names shard ${path}, which does not exist`,
        );
      }
    }
    const metadata = json.metadata;
    if (isPlainObject(metadata)) {
      for (const [key, value] of Object.entries(metadata)) {
        const text = typeof value === 'string' ? value : JSON.stringify(value);
        Object.defineProperty(this.indexMetadata, key, {
          value: text,
          enumerable: true,
          writable: true,
        });
      }
    } else if (metadata !== undefined && metadata !== null) {
      throw invalidIndex(indexFile, 'metadata must be an object');
    }
  }

  /** The index's metadata over every shard's `__metadata__` (this opens every shard). */
  get metadata(): Readonly<Record<string, string>> {
    if (this.merged === undefined) {
      const merged: Record<string, string> = {};
      for (const path of this.shardNames.keys()) Object.assign(merged, this.shard(path).metadata);
      this.merged = Object.freeze(Object.assign(merged, this.indexMetadata));
    }
    return this.merged;
  }

  names(): string[] {
    return [...this.weightMap.keys()];
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  info(name: string): TensorInfo {
    return this.shardOf(name).info(name);
  }

  readBytes(name: string): Uint8Array {
    return this.shardOf(name).readBytes(name);
  }

  read(name: string, options?: ReadTensorOptions): Tensor {
    return this.shardOf(name).read(name, options);
  }

  close(): void {
    for (const shard of this.shards.values()) shard.close();
    this.shards.clear();
    this.closed = true;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private shardOf(name: string): SafetensorsFile {
    const path = this.weightMap.get(name);
    if (path === undefined) {
      throw new SlimlmError(
        'NOT_FOUND',
        `checkpoint ${this.location} has no tensor ${JSON.stringify(name)} (per ${this.indexFile})`,
      );
    }
    return this.shard(path);
  }

  private shard(path: string): SafetensorsFile {
    if (this.closed) {
      throw new SlimlmError('DISPOSED', `checkpoint ${this.location} was closed`);
    }
    const open = this.shards.get(path);
    if (open !== undefined) return open;
    const shard = new SafetensorsFile(path);
    const missing = this.shardNames.get(path)?.find((name) => !shard.has(name));
    if (missing !== undefined) {
      shard.close();
      throw invalidIndex(
        this.indexFile,
        `maps tensor ${JSON.stringify(missing)} to shard ${path}, which does not hold it`,
      );
    }
    this.shards.set(path, shard);
    return shard;
  }
}

/**
 * The weights of a model folder, read lazily: `model.safetensors`, else the shards listed by
 * `model.safetensors.index.json`, else the folder's only `*.safetensors` file (as AutoGPTQ
 * names them). Throws NOT_FOUND saying what was looked for.
 */
export function openCheckpoint(folder: string): TensorSource {
  const dir = resolve(folder);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new SlimlmError('NOT_FOUND', `checkpoint folder ${dir} does not exist`);
  }
  const single = join(dir, SINGLE_FILE);
  if (existsSync(single)) return new SafetensorsFile(single);
  const index = join(dir, INDEX_FILE);
  if (existsSync(index)) return new ShardedCheckpoint(dir, index);
  const candidates = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
  if (candidates.length === 1) return new SafetensorsFile(join(dir, candidates[0]!));
  const found =
    candidates.length === 0
      ? 'no *.safetensors file'
      : `${candidates.length} *.safetensors files (${candidates.join(', ')}) and no index to say how they fit together`;
  throw new SlimlmError(
    'NOT_FOUND',
    `checkpoint folder ${dir} has no ${SINGLE_FILE}, no ${INDEX_FILE}, and ${found}`,
  );
}
