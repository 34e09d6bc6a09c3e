import { createRequire } from 'node:module';

/** What the addon says about the GPU it opened (native/runtime/device.h DeviceInfo). */
export interface DeviceInfo {
  ordinal: number;
  name: string;
  /** [major, minor], e.g. [9, 0] for an H100. */
  computeCapability: [number, number];
  totalMemory: number;
  multiprocessors: number;
  sharedMemoryPerBlockOptin: number;
  l2CacheBytes: number;
  /** 1000 * major + 10 * minor, e.g. 13000 for CUDA 13.0. */
  driverVersion: number;
  runtimeVersion: number;
}

/** The caching allocator's statistics (native/runtime/allocator.h MemoryStats). */
export interface MemoryStats {
  /** Bytes of blocks in use by tensors (block sizes, after rounding). */
  allocatedBytes: number;
  peakAllocatedBytes: number;
  /** Bytes taken from CUDA: blocks in use plus blocks cached for reuse. */
  reservedBytes: number;
  peakReservedBytes: number;
  activeBlocks: number;
  cachedBlocks: number;
  /** Allocations served from the cache, and those that called cudaMalloc. */
  cacheHits: number;
  rawAllocations: number;
  /** Times the cache was emptied to retry an allocation that did not fit. */
  evictions: number;
}

/** A device address in bytes (always below 2^53, so exact as a number). */
export type Address = number;

/** The kernels' functions (native/bindings/kernels.cc), each taking one object of named fields. */
export interface KernelAddon {
  map(args: object): void;
  copy(args: object): void;
  fill(args: object): void;
  select(args: object): void;
  gather(args: object): void;
  scatterAdd(args: object): void;
  reduce(args: object): void;
  softmax(args: object): void;
  norm(args: object): void;
  rotary(args: object): void;
  /** Returns the first row whose target is out of range, or -1. */
  crossEntropy(args: object): number;
  attention(args: object): void;
  matmul(args: object): void;
  quantMatmul(args: object): void;
  dequantize(args: object): void;
  /** Returns null, or the first pivot that is not positive and its value (native/bindings/linalg.cc). */
  cholesky(args: object): { pivot: number; value: number } | null;
  choleskyInverse(args: object): void;
  gptqQuantizeBlock(args: object): void;
}

/** The caching allocator over simulated memory (native/bindings/host.cc), for the unit tests. */
export interface SimulatedAllocator {
  allocate(bytes: number): Address | null;
  free(address: Address): void;
  emptyCache(): void;
  resetPeaks(): void;
  stats(): MemoryStats;
  rawBytesInUse(): number;
}

/** quantMatmul's launch plan (native/common/plans.h QuantMatmulPlan). */
export interface QuantMatmulPlan {
  kernel: 'gemv' | 'gemm';
  columnsPerThread: number;
  columnBlocks: number;
  kSplit: number;
  kBlocksPerSplit: number;
  workspaceFloats: number;
  tilesM: number;
  tilesN: number;
  tileM: number;
  tileN: number;
  warps: number;
}

/** matmul's launch plan (GemmPlan). */
export interface MatmulPlan {
  kernel: 'gemv' | 'tensorCore' | 'simt';
  tilesM: number;
  tilesN: number;
  sharedBytes: number;
  tileM: number;
  tileN: number;
}

/** scaledDotProductAttention's launch plan (AttentionPlan). */
export interface AttentionPlan {
  kernel: 'decode' | 'prefill';
  blocks: number;
  sharedBytes: number;
  queriesPerBlock: number;
  maxDepth: number;
}

/** cholesky's and choleskyInverse's tiling (native/kernels/linalg.h CholeskyPlan). */
export interface CholeskyPlan {
  tile: number;
  tiles: number;
  tileColumns: number;
  productBlocks: number;
  diagonalSharedBytes: number;
  productSharedBytes: number;
  /** Floats of cholesky's scratch for the diagonal tile's inverse. */
  scratchFloats: number;
}

/** gptqQuantizeBlock's launch plan (GptqBlockPlan). */
export interface GptqBlockPlan {
  kernel: 'registers' | 'wide';
  slots: number;
  blocks: number;
  warps: number;
  sharedBytes: number;
}

/** Host-side helpers the unit tests check without a GPU (native/bindings/host.cc). */
export interface HostAddon {
  plan(
    kind: 'quantMatmul',
    dims: { m: number; n: number; k: number; multiprocessors: number },
  ): QuantMatmulPlan;
  plan(
    kind: 'matmul',
    dims: {
      batch: number;
      m: number;
      n: number;
      k: number;
      halfOperands: boolean;
      tensorCoreLayout: boolean;
    },
  ): MatmulPlan;
  plan(
    kind: 'attention',
    dims: { batch: number; heads: number; queries: number; depth: number; valueDepth: number },
  ): AttentionPlan;
  plan(kind: 'cholesky', dims: { n: number }): CholeskyPlan;
  plan(
    kind: 'gptqQuantizeBlock',
    dims: { rows: number; cols: number; multiprocessors: number },
  ): GptqBlockPlan;
  gptqDequantize(args: object): Float32Array;
  gptqBlockCodes(words: Uint32Array, bits: number): Int32Array;
  gptqCodeFields(bits: number): { word: number; shift: number; straddles: boolean }[];
  SimulatedAllocator: {
    new (capacityBytes: number): SimulatedAllocator;
    roundedSize(bytes: number): number;
  };
}

/**
 * What a build is (native/bindings/runtime.cc capabilities()): the same sources compiled for
 * NVIDIA ("cuda") or AMD ("rocm") through native/common/gpu.h. Known without a device.
 */
export interface Capabilities {
  backend: 'cuda' | 'rocm';
  /** Lanes per warp in every kernel (an AMD 64-lane wavefront holds two warps). */
  warpLanes: number;
  /** Shared memory a block may use at most (64 KiB on AMD). */
  maxSharedBytesPerBlock: number;
  /** The largest head dimension of scaledDotProductAttention. */
  attentionMaxHeadDim: number;
  /** How f16/bf16 matmul runs: tensor cores (mma.sync) or the portable tiled GEMM. */
  halfMatmul: string;
  /** Kernel functions this build leaves out, each with the reason. */
  notPorted: Record<string, string>;
}

/** The whole addon: runtime (native/bindings/runtime.cc), kernels and host helpers. */
export interface NativeAddon extends KernelAddon, HostAddon {
  capabilities(): Capabilities;
  /** The number of CUDA devices, or why there are none usable (never throws). */
  probe(): { count: number } | { error: string; cudaError: string };
  open(ordinal: number): DeviceInfo;
  allocate(bytes: number): Address;
  free(address: Address): void;
  write(address: Address, data: ArrayBufferView): void;
  read(address: Address, target: ArrayBufferView): void;
  readAsync(address: Address, target: ArrayBufferView): Promise<void>;
  synchronize(): void;
  memoryStats(): MemoryStats;
  resetPeakMemoryStats(): void;
  emptyCache(): void;
}

/**
 * Loads a built addon: `path` relative to the module at `base` (import.meta.url), or absolute.
 * Returns why not in one line (never built, missing runtime library) instead of throwing.
 */
export function loadAddon(base: string, path: string): { addon: NativeAddon } | { error: string } {
  try {
    return { addon: createRequire(base)(path) as NativeAddon };
  } catch (error) {
    return { error: (error as Error).message.split('\n')[0] ?? String(error) };
  }
}
