// matmul with at most 8 rows in a (decode): one pass over b, which dominates the traffic.
//   b K-contiguous (a transposed [N, K] weight, the Linear case): a warp per output column, lanes
//     reading consecutive channels (coalesced), a warp-wide sum per row of a.
//   otherwise: a thread per output column (consecutive threads, consecutive columns), the 8
//     warps of a block splitting K, their partial sums added in shared memory in warp order.
#include "common/plans.h"
#include "common/values.cuh"
#include "common/warp.cuh"
#include "kernels/gemm.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda {
namespace {

constexpr int kRows = kGemvMaxRows;
constexpr int kWarps = 8;

struct Batch {
  const char* a;
  const char* b;
  int64_t c;  // element offset of the batch entry's c
};

__device__ __forceinline__ Batch batchOf(const GemmArgs& args, int64_t batch) {
  return Batch{static_cast<const char*>(args.a.data) + batch * args.a.batchStride * bytesOf(args.a.type),
               static_cast<const char*>(args.b.data) + batch * args.b.batchStride * bytesOf(args.b.type),
               batch * args.m * args.n};
}

__global__ void __launch_bounds__(kWarps * 32) gemvKContiguousKernel(GemmArgs args) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (col >= args.n) return;
  const Batch at = batchOf(args, blockIdx.y);
  float acc[kRows] = {};
  for (int64_t kk = lane; kk < args.k; kk += 32) {
    const float bv = loadAsFloat(at.b, args.b.type, kk + col * args.b.colStride);
#pragma unroll
    for (int i = 0; i < kRows; i++)
      if (i < args.m)
        acc[i] = fmaf(loadAsFloat(at.a, args.a.type, i * args.a.rowStride + kk * args.a.colStride), bv, acc[i]);
  }
#pragma unroll
  for (int i = 0; i < kRows; i++) {
    if (i >= args.m) break;
    const float total = warpSum(acc[i]);
    if (lane == 0) storeFloat(args.c, args.cType, at.c + i * args.n + col, total);
  }
}

__global__ void __launch_bounds__(kWarps * 32) gemvGeneralKernel(GemmArgs args) {
  __shared__ float partial[kWarps][kRows][32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * 32 + lane;
  const Batch at = batchOf(args, blockIdx.y);
  float acc[kRows] = {};
  if (col < args.n) {
    for (int64_t kk = warp; kk < args.k; kk += kWarps) {
      const float bv = loadAsFloat(at.b, args.b.type, kk * args.b.rowStride + col * args.b.colStride);
#pragma unroll
      for (int i = 0; i < kRows; i++)
        if (i < args.m)
          acc[i] = fmaf(loadAsFloat(at.a, args.a.type, i * args.a.rowStride + kk * args.a.colStride), bv, acc[i]);
    }
  }
#pragma unroll
  for (int i = 0; i < kRows; i++) partial[warp][i][lane] = acc[i];
  __syncthreads();
  for (int e = threadIdx.x; e < args.m * 32; e += blockDim.x) {
    const int i = e / 32, c = e % 32;
    const int64_t column = static_cast<int64_t>(blockIdx.x) * 32 + c;
    if (column >= args.n) continue;
    float total = 0.0f;
    for (int v = 0; v < kWarps; v++) total += partial[v][i][c];
    storeFloat(args.c, args.cType, at.c + i * args.n + column, total);
  }
}

}  // namespace

void launchGemv(const GemmArgs& args, cudaStream_t stream) {
  const unsigned batch = static_cast<unsigned>(args.batch);
  if (args.b.rowStride == 1) {
    const dim3 grid(static_cast<unsigned>((args.n + kWarps - 1) / kWarps), batch);
    gemvKContiguousKernel<<<grid, kWarps * 32, 0, stream>>>(args);
  } else {
    const dim3 grid(static_cast<unsigned>((args.n + 31) / 32), batch);
    gemvGeneralKernel<<<grid, kWarps * 32, 0, stream>>>(args);
  }
  checkLaunch("matmul (GEMV)", stream);
}

}  // namespace slimlm::cuda
