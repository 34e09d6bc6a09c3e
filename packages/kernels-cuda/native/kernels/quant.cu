// GPTQ kernels over packed weights (common/gptq_packing.h); W is dequantized in registers or
// shared memory, never written to global memory (except by `dequantize`, whose output it is).
//
//   GEMV (m <= 8, decode; one row, the decode of one sequence, has its own lean instance): each
//     thread owns 4 adjacent output columns; a block's 8 warps
//     take turns over the blocks of 32 input channels of its K range (grid.y splits K further
//     when there are few columns), each reading the `bits` words of a block per column
//     (coalesced along N), extracting the 32 codes with compile-time shifts, and accumulating
//     sum x*q and sum x per row. A block inside one group then adds s * (dot - z * sum x): the
//     zero point is applied once per block, not per code. Blocks that straddle groups or the end
//     of K dequantize code by code.
//   GEMM (m > 8, prefill): 64 x 64 output tiles; per 32 input channels a block stages x and the
//     dequantized W in shared memory (f32) and each thread accumulates 4 x 4 outputs in f32.
//   dequantize: one thread per (column, block of 32 channels), 32 f32 values written in a row.
#include "common/gptq_packing.h"
#include "common/launch.cuh"
#include "common/plans.h"
#include "common/values.cuh"
#include "kernels/kernels.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda {
namespace {

using gptq::Packed;
using gptq::kBlock;

struct GemvParams {
  Packed w;
  const float* x;
  const void* bias;
  DType biasType;
  float* out;
  float* workspace;  // [kSplit, m, n] when kSplit > 1
  int32_t m;
  int64_t kBlocksPerSplit, kSplit;
};

/// 4 adjacent words of one qweight row, in one 16-byte load (the glue aligns qweight to 16 bytes).
__device__ __forceinline__ void loadRow(const int32_t* p, uint32_t (&v)[4]) {
  const int4 q = __ldg(reinterpret_cast<const int4*>(p));
  v[0] = q.x;
  v[1] = q.y;
  v[2] = q.z;
  v[3] = q.w;
}

/// B bits; Rows: the rows of x held in registers (1 for decode, else 8, with rows past m unused).
template <int B, int Rows, int Cols = kQuantGemvColumnsPerThread>
__global__ void __launch_bounds__(kQuantGemvWarps * 32) quantGemvKernel(GemvParams p) {
  constexpr int kRows = Rows;
  constexpr int kStrip = 32 * Cols;
  __shared__ float partial[kQuantGemvWarps][kRows][kStrip];  // 32 KiB for 8 rows
  const Packed& w = p.w;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kStrip + lane * Cols;
  const bool active = col0 < w.n;
  const int64_t kBlocks = (w.k + kBlock - 1) / kBlock;
  const int64_t kb0 = static_cast<int64_t>(blockIdx.y) * p.kBlocksPerSplit;
  const int64_t kb1 = min(kBlocks, kb0 + p.kBlocksPerSplit);

  float acc[kRows][Cols];
#pragma unroll
  for (int i = 0; i < kRows; i++)
#pragma unroll
    for (int c = 0; c < Cols; c++) acc[i][c] = 0.0f;

  for (int64_t kb = kb0 + warp; active && kb < kb1; kb += kQuantGemvWarps) {
    const int64_t k0 = kb * kBlock;
    const int64_t kEnd = min(w.k, k0 + kBlock);
    const int64_t g = k0 / w.groupSize;
    if (kEnd - k0 == kBlock && (kEnd - 1) / w.groupSize == g) {
      uint32_t words[Cols][B];
#pragma unroll
      for (int r = 0; r < B; r++) {
        uint32_t row[Cols];
        loadRow(w.qweight + (kb * B + r) * w.n + col0, row);
#pragma unroll
        for (int c = 0; c < Cols; c++) words[c][r] = row[c];
      }
      float dot[kRows][Cols], xsum[kRows];
#pragma unroll
      for (int i = 0; i < kRows; i++) {
        xsum[i] = 0.0f;
#pragma unroll
        for (int c = 0; c < Cols; c++) dot[i][c] = 0.0f;
      }
#pragma unroll
      for (int j = 0; j < kBlock; j++) {
        float q[Cols];
#pragma unroll
        for (int c = 0; c < Cols; c++) q[c] = static_cast<float>(gptq::blockCode<B>(words[c], j));
#pragma unroll
        for (int i = 0; i < kRows; i++) {
          if (i < p.m) {
            const float xv = __ldg(p.x + i * w.k + k0 + j);
            xsum[i] += xv;
#pragma unroll
            for (int c = 0; c < Cols; c++) dot[i][c] = fmaf(xv, q[c], dot[i][c]);
          }
        }
      }
#pragma unroll
      for (int c = 0; c < Cols; c++) {
        const float s = gptq::scaleAt(w, g, col0 + c);
        const float z = static_cast<float>(gptq::zeroAt(w, g, col0 + c));
#pragma unroll
        for (int i = 0; i < kRows; i++) acc[i][c] += s * (dot[i][c] - z * xsum[i]);
      }
    } else {
      // A block across a group boundary or past the end of K: code by code.
      for (int64_t kk = k0; kk < kEnd; kk++) {
        const int64_t gk = kk / w.groupSize;
#pragma unroll
        for (int c = 0; c < Cols; c++) {
          const float wv = gptq::weightAt(w, kk, col0 + c, gk);
#pragma unroll
          for (int i = 0; i < kRows; i++)
            if (i < p.m) acc[i][c] = fmaf(__ldg(p.x + i * w.k + kk), wv, acc[i][c]);
        }
      }
    }
  }

  // Sum the warps' partial sums, in warp order.
#pragma unroll
  for (int i = 0; i < kRows; i++)
#pragma unroll
    for (int c = 0; c < Cols; c++) partial[warp][i][lane * Cols + c] = acc[i][c];
  __syncthreads();
  const int64_t strip0 = static_cast<int64_t>(blockIdx.x) * kStrip;
  for (int e = threadIdx.x; e < p.m * kStrip; e += blockDim.x) {
    const int i = e / kStrip, c = e % kStrip;
    const int64_t col = strip0 + c;
    if (col >= w.n) continue;
    float total = 0.0f;
    for (int v = 0; v < kQuantGemvWarps; v++) total += partial[v][i][c];
    if (p.kSplit > 1) {
      p.workspace[(blockIdx.y * p.m + i) * w.n + col] = total;
    } else {
      if (p.bias != nullptr) total += loadAsFloat(p.bias, p.biasType, col);
      p.out[i * w.n + col] = total;
    }
  }
}

/// out[i, col] = sum over splits of the partial sums (+ bias), in split order.
__global__ void splitSumKernel(const float* workspace, int64_t splits, int64_t m, int64_t n,
                               const void* bias, DType biasType, float* out) {
  SLIMLM_GRID_STRIDE(e, m * n) {
    float total = 0.0f;
    for (int64_t s = 0; s < splits; s++) total += workspace[s * m * n + e];
    if (bias != nullptr) total += loadAsFloat(bias, biasType, e % n);
    out[e] = total;
  }
}

/// x tile [32 k][64 m] and W tile [32 k][64 n] in shared memory (f32), 4 x 4 outputs a thread.
__global__ void __launch_bounds__(256) quantGemmKernel(Packed w, const float* x, int64_t m,
                                                        const void* bias, DType biasType, float* out) {
  constexpr int TM = kQuantTileM, TN = kQuantTileN;
  __shared__ float xs[kBlock][TM + 4];
  __shared__ float ws[kBlock][TN + 4];
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * TM;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * TN;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < w.k; k0 += kBlock) {
    // x: 64 rows x 32 channels, coalesced along k, stored transposed.
    for (int e = tid; e < TM * kBlock; e += 256) {
      const int r = e / kBlock, j = e % kBlock;
      const int64_t row = row0 + r, kk = k0 + j;
      xs[j][r] = row < m && kk < w.k ? x[row * w.k + kk] : 0.0f;
    }
    // W: each thread dequantizes 8 codes of one column (64 columns x 4 parts of 8 channels).
    {
      const int c = tid % TN, part = tid / TN;
      const int64_t col = col0 + c;
      for (int j = part * 8; j < part * 8 + 8; j++) {
        const int64_t kk = k0 + j;
        ws[j][c] = col < w.n && kk < w.k ? gptq::weightAt(w, kk, col, kk / w.groupSize) : 0.0f;
      }
    }
    __syncthreads();
#pragma unroll 8
    for (int j = 0; j < kBlock; j++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = xs[j][ty * 4 + i];
#pragma unroll
      for (int i = 0; i < 4; i++) b[i] = ws[j][tx * 4 + i];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int l = 0; l < 4; l++) acc[i][l] = fmaf(a[i], b[l], acc[i][l]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int64_t row = row0 + ty * 4 + i;
    if (row >= m) continue;
#pragma unroll
    for (int l = 0; l < 4; l++) {
      const int64_t col = col0 + tx * 4 + l;
      if (col >= w.n) continue;
      out[row * w.n + col] = acc[i][l] + (bias != nullptr ? loadAsFloat(bias, biasType, col) : 0.0f);
    }
  }
}

__global__ void dequantizeKernel(DequantizeArgs args) {
  const Packed& w = args.w;
  const int64_t kBlocks = (w.k + kBlock - 1) / kBlock;
  SLIMLM_GRID_STRIDE(e, kBlocks * w.n) {
    // Consecutive threads take consecutive columns, so qweight reads coalesce.
    const int64_t col = e % w.n, kb = e / w.n;
    float* dst = args.out + col * w.k + kb * kBlock;
    const int64_t count = min(static_cast<int64_t>(kBlock), w.k - kb * kBlock);
    for (int64_t j = 0; j < count; j++) {
      const int64_t kk = kb * kBlock + j;
      const int64_t g = args.gIdx != nullptr ? args.gIdx[kk] : kk / w.groupSize;
      dst[j] = gptq::weightAt(w, kk, col, g);
    }
  }
}

template <int B>
void launchGemvBits(const GemvParams& p, const QuantMatmulPlan& plan, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(plan.columnBlocks), static_cast<unsigned>(plan.kSplit));
  if (p.m == 1) quantGemvKernel<B, 1><<<grid, kQuantGemvWarps * 32, 0, stream>>>(p);
  else quantGemvKernel<B, kQuantGemvMaxRows><<<grid, kQuantGemvWarps * 32, 0, stream>>>(p);
}

}  // namespace

void launchQuantMatmul(const QuantMatmulArgs& args, cudaStream_t stream, int multiprocessors) {
  const Packed& w = args.w;
  if (args.m == 0 || w.n == 0) return;
  const QuantMatmulPlan plan = planQuantMatmul(args.m, w.n, w.k, multiprocessors);
  if (!plan.gemv) {
    const dim3 grid(static_cast<unsigned>(plan.tilesN), static_cast<unsigned>(plan.tilesM));
    quantGemmKernel<<<grid, 256, 0, stream>>>(w, args.x, args.m, args.bias, args.biasType, args.out);
    checkLaunch("quantMatmul (GEMM)", stream);
    return;
  }
  const GemvParams p{w, args.x, args.bias, args.biasType, args.out, args.workspace,
                     static_cast<int32_t>(args.m), plan.kBlocksPerSplit, plan.kSplit};
  switch (w.bits) {
    case 2: launchGemvBits<2>(p, plan, stream); break;
    case 3: launchGemvBits<3>(p, plan, stream); break;
    case 4: launchGemvBits<4>(p, plan, stream); break;
    default: launchGemvBits<8>(p, plan, stream); break;
  }
  checkLaunch("quantMatmul (GEMV)", stream);
  if (plan.kSplit > 1) {
    splitSumKernel<<<gridFor(args.m * w.n), kThreads, 0, stream>>>(
        args.workspace, plan.kSplit, args.m, w.n, args.bias, args.biasType, args.out);
    checkLaunch("quantMatmul (split-K sum)", stream);
  }
}

void launchDequantize(const DequantizeArgs& args, cudaStream_t stream) {
  const int64_t count = (args.w.k + kBlock - 1) / kBlock * args.w.n;
  if (count == 0) return;
  dequantizeKernel<<<gridFor(count), kThreads, 0, stream>>>(args);
  checkLaunch("dequantize", stream);
}

}  // namespace slimlm::cuda
