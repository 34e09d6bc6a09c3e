import { createRequire } from 'node:module';
import type { GptqAddon } from './kernels/gptq';
import type { LinalgAddon } from './kernels/linalg';
import type { OpsAddon } from './kernels/operands';

/** What the addon reports about the CPU and the path it runs. */
export interface CpuInfo {
  /** The kernel path in use: 'avx512', 'avx2' or 'scalar'. */
  isa: string;
  /** Every path this CPU can run, best first. */
  supportedIsas: string[];
  features: Record<
    | 'avx2'
    | 'fma'
    | 'f16c'
    | 'avx512f'
    | 'avx512dq'
    | 'avx512bw'
    | 'avx512vl'
    | 'avx512bf16'
    | 'avx512vnni',
    boolean
  >;
  threads: number;
}

/**
 * The addon's functions: the runtime's (native/runtime/addon.cc), GEMM's (native/gemm/bindings.cc)
 * and the op kernels' (native/ops/bindings.cc, declared beside their glue as OpsAddon).
 */
export interface NativeAddon extends OpsAddon, LinalgAddon, GptqAddon {
  info(): CpuInfo;
  setIsa(isa: string): void;
  setThreads(threads: number): void;
  gemm(a: ArrayBufferView, b: ArrayBufferView, c: ArrayBufferView, dims: Float64Array): void;
  /** Like gemm, on a worker thread; resolves once c holds the product. */
  gemmAsync(
    a: ArrayBufferView,
    b: ArrayBufferView,
    c: ArrayBufferView,
    dims: Float64Array,
  ): Promise<void>;
}

function load(): { addon: NativeAddon } | { error: string } {
  try {
    // From src/ (tests) and dist/ (the package) alike, the addon is one level up.
    const require = createRequire(import.meta.url);
    return { addon: require('../build/Release/slimlm_cpu.node') as NativeAddon };
  } catch (error) {
    return { error: (error as Error).message.split('\n')[0] ?? String(error) };
  }
}

const loaded = load();

/** The addon, or undefined when it could not be built or loaded here. */
export const native: NativeAddon | undefined = 'addon' in loaded ? loaded.addon : undefined;

/** Why the addon is unavailable, when it is. */
export const unavailableReason: string | undefined = 'error' in loaded ? loaded.error : undefined;
