// The fp16/bf16 tensor-core GEMM: c = a @ b with mma.sync m16n8k16 and f32 accumulators.
//
// A block computes a 128 x 128 tile of c with 8 warps in a 2 x 4 arrangement (each warp 64 x 32:
// 4 x 4 mma tiles). K advances 32 channels per stage through a 3-stage cp.async pipeline. Each
// operand is staged in shared memory in its own layout, rows padded by 16 bytes so that
// ldmatrix reads are free of bank conflicts:
//   K-contiguous (a row-major, or b a transposed [N, K] weight): tile [128][32 + 8], read with
//     ldmatrix;
//   M/N-contiguous (a transposed, or b row-major [K, N]): tile [32][128 + 8], read with
//     ldmatrix.trans, which yields the same fragments.
// Loads are 16-byte cp.async chunks along the contiguous axis; a chunk that runs past the matrix
// copies only its valid bytes and zero-fills the rest, so any M, N and K work (the glue sends
// only operands whose chunks are 16-byte aligned).
// NVIDIA only (SLIMLM_GPU_MMA_SYNC, common/gpu.h): AMD builds compile this file to nothing and
// planGemm never picks it there.
#include "common/gpu.h"

#if defined(SLIMLM_GPU_MMA_SYNC)

#include "common/mma.cuh"
#include "common/plans.h"
#include "kernels/gemm.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda {
namespace {

constexpr int BM = kGemmTileM, BN = kGemmTileN, BK = kGemmTileK, kStages = kGemmStages;
constexpr int kPad = 8;  // halves of padding per shared-memory row
constexpr int kThreadsTc = 256;
constexpr int kWarpM = 64, kWarpN = 32;  // each warp's tile
constexpr int kMmaM = kWarpM / 16, kMmaN = kWarpN / 8;  // 4 x 4 mma tiles per warp

static_assert(BM == BN, "a and b tiles share one layout");

/// Shared-memory halves of one stage of one operand's tile.
template <bool KContiguous>
constexpr int kTileHalves = KContiguous ? BM * (BK + kPad) : BK * (BM + kPad);

/// One operand as the kernel walks it: `rows` is M for a and N for b.
struct TileSource {
  const uint16_t* data;  // the batch entry's matrix
  int64_t rowStride;     // between rows (used when K-contiguous)
  int64_t kStride;       // between channels (used when rows are contiguous)
  int64_t rows, k;
};

/// Queues the copy of rows [row0, row0 + 128) x channels [k0, k0 + 32) into `tile`.
template <bool KContiguous>
__device__ __forceinline__ void loadTile(uint16_t* tile, const TileSource& src, int64_t row0, int64_t k0) {
  constexpr int kChunks = BM * BK / 8;  // 16-byte chunks per tile: 512, two per thread
#pragma unroll
  for (int c = threadIdx.x; c < kChunks; c += kThreadsTc) {
    int r, kk;  // the chunk's first element within the tile
    int64_t valid;
    const uint16_t* from;
    uint16_t* to;
    if constexpr (KContiguous) {
      r = c / (BK / 8);
      kk = (c % (BK / 8)) * 8;
      const int64_t row = row0 + r, channel = k0 + kk;
      valid = row < src.rows ? min(int64_t{8}, src.k - channel) : 0;
      from = src.data + row * src.rowStride + channel;
      to = tile + r * (BK + kPad) + kk;
    } else {
      kk = c / (BM / 8);
      r = (c % (BM / 8)) * 8;
      const int64_t row = row0 + r, channel = k0 + kk;
      valid = channel < src.k ? min(int64_t{8}, src.rows - row) : 0;
      from = src.data + channel * src.kStride + row;
      to = tile + kk * (BM + kPad) + r;
    }
    valid = valid < 0 ? 0 : valid;
    // A chunk with nothing to copy still zero-fills; point it at the matrix's start.
    copyAsync16(to, valid > 0 ? from : src.data, static_cast<int>(valid * 2));
  }
}

/// The a fragments of the warp's 4 row tiles for channels [kk, kk + 16) of a stage.
template <bool KContiguous>
__device__ __forceinline__ void loadA(uint32_t (&a)[kMmaM][4], const uint16_t* tile, int warpRow, int kk) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int t = 0; t < kMmaM; t++) {
    const int m0 = warpRow + t * 16;
    if constexpr (KContiguous) {
      // Tiles: rows 0-7 / 8-15 at channels 0-7, then the same at channels 8-15.
      const int m = m0 + (lane % 16), k = kk + (lane / 16) * 8;
      loadMatrix4(a[t], tile + m * (BK + kPad) + k);
    } else {
      const int k = kk + (lane & 7) + ((lane >> 4) << 3), m = m0 + ((lane >> 3) & 1) * 8;
      loadMatrix4Transposed(a[t], tile + k * (BM + kPad) + m);
    }
  }
}

/// The b fragments (two registers per 8-column tile) of the warp's 4 column tiles.
template <bool KContiguous>
__device__ __forceinline__ void loadB(uint32_t (&b)[kMmaN][2], const uint16_t* tile, int warpCol, int kk) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int pair = 0; pair < kMmaN / 2; pair++) {
    const int n0 = warpCol + pair * 16;
    uint32_t r[4];
    if constexpr (KContiguous) {
      const int n = n0 + (lane & 7) + ((lane >> 4) << 3), k = kk + ((lane >> 3) & 1) * 8;
      loadMatrix4(r, tile + n * (BK + kPad) + k);
    } else {
      const int k = kk + (lane & 7) + ((lane >> 3) & 1) * 8, n = n0 + (lane >> 4) * 8;
      loadMatrix4Transposed(r, tile + k * (BN + kPad) + n);
    }
    b[2 * pair][0] = r[0];
    b[2 * pair][1] = r[1];
    b[2 * pair + 1][0] = r[2];
    b[2 * pair + 1][1] = r[3];
  }
}

template <typename T>
__device__ __forceinline__ T fromFloat(float v);
template <>
__device__ __forceinline__ __half fromFloat<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 fromFloat<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

template <typename T, bool AK, bool BKc>
__global__ void __launch_bounds__(kThreadsTc) tensorCoreGemmKernel(GemmArgs args) {
  extern __shared__ __align__(16) uint16_t shared[];
  uint16_t* aTiles = shared;
  uint16_t* bTiles = shared + kStages * kTileHalves<AK>;

  const int64_t batch = blockIdx.z;
  const TileSource a{static_cast<const uint16_t*>(args.a.data) + batch * args.a.batchStride,
                     args.a.rowStride, args.a.colStride, args.m, args.k};
  // b is [K, N]: its "rows" are the N columns; its row stride (along k) is the channel stride.
  const TileSource b{static_cast<const uint16_t*>(args.b.data) + batch * args.b.batchStride,
                     args.b.colStride, args.b.rowStride, args.n, args.k};
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * BM, n0 = static_cast<int64_t>(blockIdx.x) * BN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warpRow = (warp / 4) * kWarpM, warpCol = (warp % 4) * kWarpN;

  float acc[kMmaM][kMmaN][4] = {};
  const int64_t kTiles = (args.k + BK - 1) / BK;

  auto stage = [&](int64_t kt) {
    if (kt < kTiles) {
      const int s = static_cast<int>(kt % kStages);
      loadTile<AK>(aTiles + s * kTileHalves<AK>, a, m0, kt * BK);
      loadTile<BKc>(bTiles + s * kTileHalves<BKc>, b, n0, kt * BK);
    }
    commitAsync();  // an empty group keeps the count of groups in step
  };

#pragma unroll
  for (int s = 0; s < kStages - 1; s++) stage(s);

  for (int64_t kt = 0; kt < kTiles; kt++) {
    waitAsync<kStages - 2>();
    __syncthreads();  // stage kt is complete for all threads, and stage kt - 1 is no longer read
    stage(kt + kStages - 1);
    const int s = static_cast<int>(kt % kStages);
    const uint16_t* aTile = aTiles + s * kTileHalves<AK>;
    const uint16_t* bTile = bTiles + s * kTileHalves<BKc>;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      uint32_t af[kMmaM][4], bf[kMmaN][2];
      loadA<AK>(af, aTile, warpRow, kk);
      loadB<BKc>(bf, bTile, warpCol, kk);
#pragma unroll
      for (int i = 0; i < kMmaM; i++)
#pragma unroll
        for (int j = 0; j < kMmaN; j++) mma16816<T>(acc[i][j], af[i], bf[j][0], bf[j][1]);
    }
  }
  waitAsync<0>();

  // Accumulator i of an m16n8 tile: row lane / 4 (+ 8 for i >= 2), column 2 (lane % 4) + i % 2.
  T* c = static_cast<T*>(args.c) + batch * args.m * args.n;
#pragma unroll
  for (int i = 0; i < kMmaM; i++) {
#pragma unroll
    for (int j = 0; j < kMmaN; j++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int64_t row = m0 + warpRow + i * 16 + lane / 4 + (e >= 2 ? 8 : 0);
        const int64_t col = n0 + warpCol + j * 8 + 2 * (lane % 4) + (e % 2);
        if (row < args.m && col < args.n) c[row * args.n + col] = fromFloat<T>(acc[i][j][e]);
      }
    }
  }
}

template <typename T, bool AK, bool BKc>
void launchInstance(const GemmArgs& args, const GemmPlan& plan, cudaStream_t stream) {
  auto kernel = tensorCoreGemmKernel<T, AK, BKc>;
  const int bytes = kStages * (kTileHalves<AK> + kTileHalves<BKc>) * 2;
  static const bool raised = [&] {
    check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
          "raising the tensor-core GEMM's shared memory");
    return true;
  }();
  (void)raised;
  const dim3 grid(static_cast<unsigned>(plan.tilesN), static_cast<unsigned>(plan.tilesM),
                  static_cast<unsigned>(plan.batch));
  kernel<<<grid, kThreadsTc, bytes, stream>>>(args);
}

template <typename T>
void launchLayouts(const GemmArgs& args, const GemmPlan& plan, cudaStream_t stream) {
  const bool aK = args.a.colStride == 1, bK = args.b.rowStride == 1;
  if (aK && bK) launchInstance<T, true, true>(args, plan, stream);
  else if (aK) launchInstance<T, true, false>(args, plan, stream);
  else if (bK) launchInstance<T, false, true>(args, plan, stream);
  else launchInstance<T, false, false>(args, plan, stream);
}

}  // namespace

void launchTensorCoreGemm(const GemmArgs& args, const GemmPlan& plan, cudaStream_t stream) {
  if (args.a.type == DType::bf16) launchLayouts<__nv_bfloat16>(args, plan, stream);
  else launchLayouts<__half>(args, plan, stream);
  checkLaunch("matmul (tensor cores)", stream);
}

}  // namespace slimlm::cuda

#endif  // SLIMLM_GPU_MMA_SYNC
