// matmul for what the tensor cores do not take: f32 operands (and f32 a by f16/bf16 b, read as
// stored), or operands with no unit stride. 64 x 64 output tiles, 16 channels per step, each of
// 256 threads accumulating 4 x 4 outputs with f32 FMAs. Any strides, any M, N and K.
#include "common/plans.h"
#include "common/values.cuh"
#include "kernels/gemm.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda {
namespace {

constexpr int TM = kSimtTileM, TN = kSimtTileN, TK = kSimtTileK;

__global__ void __launch_bounds__(256) simtGemmKernel(GemmArgs args) {
  __shared__ float as[TK][TM + 4];
  __shared__ float bs[TK][TN + 4];
  const int64_t batch = blockIdx.z;
  const char* aData = static_cast<const char*>(args.a.data) + batch * args.a.batchStride * bytesOf(args.a.type);
  const char* bData = static_cast<const char*>(args.b.data) + batch * args.b.batchStride * bytesOf(args.b.type);
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * TM, n0 = static_cast<int64_t>(blockIdx.x) * TN;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < args.k; k0 += TK) {
    for (int e = tid; e < TM * TK; e += 256) {
      // Consecutive threads walk a's k when its columns are contiguous, else its rows.
      const int r = args.a.colStride == 1 ? e / TK : e % TM;
      const int kk = args.a.colStride == 1 ? e % TK : e / TM;
      const int64_t row = m0 + r, channel = k0 + kk;
      as[kk][r] = row < args.m && channel < args.k
                      ? loadAsFloat(aData, args.a.type, row * args.a.rowStride + channel * args.a.colStride)
                      : 0.0f;
    }
    for (int e = tid; e < TN * TK; e += 256) {
      const int c = args.b.rowStride == 1 ? e / TK : e % TN;
      const int kk = args.b.rowStride == 1 ? e % TK : e / TN;
      const int64_t col = n0 + c, channel = k0 + kk;
      bs[kk][c] = col < args.n && channel < args.k
                      ? loadAsFloat(bData, args.b.type, channel * args.b.rowStride + col * args.b.colStride)
                      : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TK; kk++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = as[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; j++) b[j] = bs[kk][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
  const int64_t cBase = batch * args.m * args.n;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int64_t row = m0 + ty * 4 + i;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int64_t col = n0 + tx * 4 + j;
      if (row < args.m && col < args.n) storeFloat(args.c, args.cType, cBase + row * args.n + col, acc[i][j]);
    }
  }
}

}  // namespace

void launchSimtGemm(const GemmArgs& args, const GemmPlan& plan, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(plan.tilesN), static_cast<unsigned>(plan.tilesM),
                  static_cast<unsigned>(plan.batch));
  simtGemmKernel<<<grid, 256, 0, stream>>>(args);
  checkLaunch("matmul (SIMT)", stream);
}

}  // namespace slimlm::cuda
