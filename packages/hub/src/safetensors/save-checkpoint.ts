import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SlimlmError } from '@slimlm/core';
import { INDEX_FILE, SINGLE_FILE } from './checkpoint';
import {
  type PlannedEntry,
  planEntries,
  type SafetensorsInput,
  writeSafetensorsFile,
} from './write';

export interface SaveCheckpointOptions {
  /** Every file's `__metadata__` (`format: "pt"` is added unless given). */
  metadata?: Record<string, string>;
  /**
   * The most tensor bytes per file, as bytes or a size like transformers takes ("5GB", "500MB",
   * "2GiB"). A tensor larger than this gets a file of its own. Default "5GB".
   */
  maxShardSize?: number | string;
}

const UNITS: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12 };

/**
 * Bytes from a number or a size string as transformers reads them: KB/MB/GB/TB are powers of
 * 1000, KiB/MiB/GiB/TiB powers of 1024, and a lowercase final "b" means bits ("5Gb" = 625 MB).
 */
export function parseSize(size: number | string): number {
  let bytes: number | undefined;
  if (typeof size === 'number') {
    bytes = size;
  } else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?)([bB]?)\s*$/.exec(size);
    if (match !== null && (match[2] !== '' || match[3] === '')) {
      const [, value, prefix, binary, b] = match as unknown as [
        string,
        string,
        string,
        string,
        string,
      ];
      const unit =
        binary === 'i'
          ? 1024 ** ' KMGT'.indexOf(prefix.toUpperCase())
          : UNITS[prefix.toUpperCase()]!;
      bytes = Math.floor((Number(value) * unit) / (b === 'b' ? 8 : 1));
    }
  }
  if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new SlimlmError(
      'INVALID_ARGUMENT',
      `maxShardSize ${JSON.stringify(size)} is not a positive size (use bytes or e.g. "5GB", "500MB", "2GiB")`,
    );
  }
  return bytes;
}

/**
 * Groups tensors into shards in the given order as huggingface_hub does: a tensor that would take
 * the current shard past `maxBytes` starts a new one, and one larger than `maxBytes` alone
 * gets a shard of its own.
 */
function splitShards(entries: readonly PlannedEntry[], maxBytes: number): PlannedEntry[][] {
  const shards: PlannedEntry[][] = [];
  let current: PlannedEntry[] = [];
  let currentBytes = 0;
  for (const entry of entries) {
    if (entry.byteLength > maxBytes) {
      shards.push([entry]);
      continue;
    }
    if (currentBytes + entry.byteLength > maxBytes && current.length > 0) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(entry);
    currentBytes += entry.byteLength;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

function shardName(index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

function isCheckpointFile(name: string): boolean {
  return (
    name === SINGLE_FILE || name === INDEX_FILE || /^model-\d{5}-of-\d{5}\.safetensors$/.test(name)
  );
}

function writeTextFile(path: string, text: string): void {
  const fd = openSync(path, 'wx');
  try {
    const bytes = Buffer.from(text, 'utf8');
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Saves tensors as a Hugging Face checkpoint in `folder`: one `model.safetensors`, or when they
 * exceed `maxShardSize`, `model-00001-of-0000N.safetensors` shards and
 * `model.safetensors.index.json`, named and laid out as transformers writes them. Tensors are
 * produced one at a time. Everything is written into a temporary folder beside `folder` first:
 * a new folder appears whole by one rename; into an existing one the files are moved once all
 * are written, then checkpoint files of an earlier save that the new one does not use are
 * removed. A failure leaves `folder` as it was. Returns the file names written.
 */
export function saveCheckpoint(
  folder: string,
  tensors: SafetensorsInput,
  options: SaveCheckpointOptions = {},
): string[] {
  const dir = resolve(folder);
  const what = `saving checkpoint ${dir}`;
  const maxBytes = parseSize(options.maxShardSize ?? '5GB');
  const shards = splitShards(planEntries(tensors, what), maxBytes);
  const names =
    shards.length === 1 ? [SINGLE_FILE] : shards.map((_, i) => shardName(i, shards.length));

  mkdirSync(dirname(dir), { recursive: true });
  const tmp = join(
    dirname(dir),
    `.${basename(dir)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`,
  );
  mkdirSync(tmp);
  try {
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    shards.forEach((shard, i) => {
      const name = names[i]!;
      writeSafetensorsFile(join(tmp, name), shard, options.metadata, what);
      for (const entry of shard) {
        weightMap[entry.name] = name;
        totalSize += entry.byteLength;
      }
    });
    const files = [...names];
    if (shards.length > 1) {
      const sorted = Object.fromEntries(
        Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : 1)),
      );
      const index = { metadata: { total_size: totalSize }, weight_map: sorted };
      writeTextFile(join(tmp, INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
      files.push(INDEX_FILE);
    }
    if (!existsSync(dir)) {
      renameSync(tmp, dir);
      return files;
    }
    // Shards before the index that names them; stale files of an earlier save go last.
    for (const name of files) renameSync(join(tmp, name), join(dir, name));
    for (const name of readdirSync(dir)) {
      if (isCheckpointFile(name) && !files.includes(name)) rmSync(join(dir, name), { force: true });
    }
    return files;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
