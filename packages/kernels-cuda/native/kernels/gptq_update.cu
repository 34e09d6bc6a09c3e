// gptqQuantizeBlock: the GPTQ column loop of one lazy-update block, for every row at once (rows
// are independent inside a block). A warp takes a row: columns go left to right, each quantized
// with its group's scale and zero, its scaled error e = (w - q) / hinv[i][i] recorded, and
// e * hinv[i][j] subtracted from every later column j.
//
//   B <= 128 columns: the row lives in registers (lane l owns columns l, l + 32, ...), the owner
//     of column i hands it to the warp by a shuffle, and hinv's upper triangle is packed in
//     shared memory, loaded once per block.
//   wider blocks: the row lives in `err` (global memory, as in the reference kernel) and hinv is
//     read from global memory.
//
// Every step is one f32 operation rounded as the reference kernel (and torch) rounds it: nvcc
// would contract the update's product and subtraction into one fused multiply-add, which rounds
// once, so the steps are written with __fmul_rn / __fsub_rn / __fdiv_rn, which it never fuses.
#include "common/gpu.h"
#include "kernels/linalg.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda {
namespace {

/// One column of one row: the code clamp(round(x / scale) + zero, 0, maxq) (round half to even,
/// as torch.round), q = scale * (code - zero), e = (x - q) / d and the loss (x - q)² / d² / 2.
/// Zero points are integers, so code and code - zero are exact in f32, as in the reference's f64.
struct Quantized {
  float q, e, loss;
  uint8_t code;
};

__device__ __forceinline__ Quantized quantizeColumn(float x, float scale, float zero, float maxq, float d) {
  float code = __fadd_rn(rintf(__fdiv_rn(x, scale)), zero);
  code = code < 0.0f ? 0.0f : (code > maxq ? maxq : code);
  Quantized r;
  r.q = __fmul_rn(scale, __fsub_rn(code, zero));
  const float diff = __fsub_rn(x, r.q);
  r.e = __fdiv_rn(diff, d);
  r.loss = __fmul_rn(__fdiv_rn(__fmul_rn(diff, diff), __fmul_rn(d, d)), 0.5f);
  r.code = code == code ? static_cast<uint8_t>(code) : 0;  // a NaN weight stores code 0, as a Uint8Array does
  return r;
}

/// Where row i of hinv's packed upper triangle starts (it holds columns i..B-1).
__device__ __forceinline__ int packedRow(int i, int b) { return i * b - i * (i - 1) / 2; }

template <int Slots>
__global__ void __launch_bounds__(kGptqWarps * 32) registerRowsKernel(GptqBlockArgs a) {
  extern __shared__ float upper[];
  const int b = static_cast<int>(a.cols);
  for (int e = threadIdx.x; e < b * b; e += blockDim.x) {
    const int i = e / b, j = e % b;
    if (j >= i) upper[packedRow(i, b) + j - i] = a.hinv[e];
  }
  __syncthreads();
  const int lane = threadIdx.x % kWarpLanes, warp = threadIdx.x / kWarpLanes;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kGptqWarps + warp; row < a.rows;
       row += static_cast<int64_t>(gridDim.x) * kGptqWarps) {
    // Column 32 s + lane of the row: its weight (then its error), its group's scale and zero,
    // and the outputs recorded when it is quantized.
    float w[Slots], scale[Slots], zero[Slots], q[Slots], loss[Slots];
    uint8_t code[Slots];
#pragma unroll
    for (int s = 0; s < Slots; s++) {
      const int j = 32 * s + lane;
      w[s] = 0.0f, scale[s] = 1.0f, zero[s] = 0.0f, q[s] = 0.0f, loss[s] = 0.0f, code[s] = 0;
      if (j < b) {
        const int64_t g = a.params[j];
        w[s] = a.w[row * b + j];
        scale[s] = a.scales[g * a.rows + row];
        zero[s] = a.zeros[g * a.rows + row];
      }
    }
#pragma unroll
    for (int s = 0; s < Slots; s++) {
      for (int l = 0; l < kWarpLanes; l++) {
        const int i = 32 * s + l;
        if (i >= b) break;
        const float* h = upper + packedRow(i, b) - i;  // h[j] = hinv[i][j] for j >= i
        const Quantized r = quantizeColumn(shuffle(w[s], l), shuffle(scale[s], l), shuffle(zero[s], l), a.maxq, h[i]);
        if (lane == l) w[s] = r.e, q[s] = r.q, loss[s] = r.loss, code[s] = r.code;
#pragma unroll
        for (int t = s; t < Slots; t++) {
          const int j = 32 * t + lane;
          if (j > i && j < b) w[t] = __fsub_rn(w[t], __fmul_rn(r.e, h[j]));
        }
      }
    }
#pragma unroll
    for (int s = 0; s < Slots; s++) {
      const int j = 32 * s + lane;
      if (j >= b) continue;
      const int64_t at = row * b + j;
      a.q[at] = q[s];
      a.err[at] = w[s];
      a.losses[at] = loss[s];
      a.codes[at] = code[s];
    }
  }
}

__global__ void __launch_bounds__(kGptqWarps * 32) wideRowsKernel(GptqBlockArgs a) {
  const int64_t b = a.cols;
  const int lane = threadIdx.x % kWarpLanes, warp = threadIdx.x / kWarpLanes;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kGptqWarps + warp; row < a.rows;
       row += static_cast<int64_t>(gridDim.x) * kGptqWarps) {
    float* work = a.err + row * b;  // weights until quantized, then their errors
    for (int64_t j = lane; j < b; j += kWarpLanes) work[j] = a.w[row * b + j];
    __syncwarp();
    for (int64_t i = 0; i < b; i++) {
      const int64_t g = a.params[i];
      const Quantized r = quantizeColumn(work[i], a.scales[g * a.rows + row], a.zeros[g * a.rows + row], a.maxq,
                                         a.hinv[i * b + i]);
      __syncwarp();  // every lane has read work[i] before it is overwritten
      if (lane == 0) {
        a.q[row * b + i] = r.q;
        a.losses[row * b + i] = r.loss;
        a.codes[row * b + i] = r.code;
        work[i] = r.e;
      }
      for (int64_t j = i + 1 + lane; j < b; j += kWarpLanes)
        work[j] = __fsub_rn(work[j], __fmul_rn(r.e, a.hinv[i * b + j]));
      __syncwarp();
    }
  }
}

}  // namespace

void launchGptqQuantizeBlock(const GptqBlockArgs& args, cudaStream_t stream, int multiprocessors) {
  if (args.rows == 0 || args.cols == 0) return;
  const GptqBlockPlan plan = planGptqBlock(args.rows, args.cols, multiprocessors);
  const auto blocks = static_cast<unsigned>(plan.blocks);
  const auto shared = static_cast<size_t>(plan.sharedBytes);
  constexpr int threads = kGptqWarps * 32;
  switch (plan.registers ? plan.slots : 0) {
    case 1: registerRowsKernel<1><<<blocks, threads, shared, stream>>>(args); break;
    case 2: registerRowsKernel<2><<<blocks, threads, shared, stream>>>(args); break;
    case 3: registerRowsKernel<3><<<blocks, threads, shared, stream>>>(args); break;
    case 4: registerRowsKernel<4><<<blocks, threads, shared, stream>>>(args); break;
    default: wideRowsKernel<<<blocks, threads, 0, stream>>>(args); break;
  }
  checkLaunch("gptqQuantizeBlock", stream);
}

}  // namespace slimlm::cuda
