// Launch plans: how each large kernel splits its problem over the GPU. Plain host code, chosen
// from the problem's dimensions and the device's multiprocessor count, and exposed by the bindings
// (plan()) so that the unit tests check on any machine that every plan covers its problem exactly
// and stays within the hardware's limits.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/gpu.h"

namespace slimlm::cuda {

constexpr int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- quantMatmul ----

/// Rows of x up to which quantMatmul streams the packed weight (GEMV); above, the tiled GEMM.
constexpr int64_t kQuantGemvMaxRows = 8;
/// GEMV: 8 warps per block share one strip of columns and split its K range between them.
constexpr int kQuantGemvWarps = 8;
/// GEMV: adjacent output columns per thread.
constexpr int kQuantGemvColumnsPerThread = 4;
/// GEMM: 64 x 64 output tiles, 32 input channels (one packed block) per step.
constexpr int kQuantTileM = 64, kQuantTileN = 64;

struct QuantMatmulPlan {
  bool gemv;
  // GEMV: each thread owns `columnsPerThread` (4) adjacent columns, read with one 16-byte load
  // per qweight row (N * bits is a multiple of 32 at every width, so N is a multiple of 4); a
  // block owns 32 * columnsPerThread columns; grid = columnBlocks x kSplit, each split
  // `kBlocksPerSplit` blocks of 32 input channels. kSplit > 1 needs workspace [kSplit, m, n].
  int columnsPerThread;
  int64_t columnBlocks, kSplit, kBlocksPerSplit;
  int64_t workspaceFloats;
  // GEMM: grid = tilesN x tilesM.
  int64_t tilesM, tilesN;
};

inline QuantMatmulPlan planQuantMatmul(int64_t m, int64_t n, int64_t k, int multiprocessors) {
  QuantMatmulPlan plan{};
  plan.gemv = m <= kQuantGemvMaxRows;
  if (!plan.gemv) {
    plan.tilesM = ceilDiv(m, kQuantTileM);
    plan.tilesN = ceilDiv(n, kQuantTileN);
    return plan;
  }
  plan.columnsPerThread = kQuantGemvColumnsPerThread;
  plan.columnBlocks = ceilDiv(n, 32 * plan.columnsPerThread);
  const int64_t kBlocks = ceilDiv(k, 32);
  // Aim for four blocks per multiprocessor, but give each block at least one packed block per
  // warp: below that, the split costs more in partial sums than it gains in parallelism.
  const int64_t wanted = ceilDiv(4 * static_cast<int64_t>(multiprocessors), plan.columnBlocks);
  const int64_t most = std::max<int64_t>(1, kBlocks / kQuantGemvWarps);
  const int64_t split = std::clamp<int64_t>(wanted, 1, most);
  plan.kBlocksPerSplit = std::max<int64_t>(1, ceilDiv(kBlocks, split));
  plan.kSplit = std::max<int64_t>(1, ceilDiv(kBlocks, plan.kBlocksPerSplit));
  plan.workspaceFloats = plan.kSplit > 1 ? plan.kSplit * m * n : 0;
  return plan;
}

// ---- matmul ----

enum class GemmKind : int32_t { gemv = 0, tensorCore = 1, simt = 2 };

/// Whether this build has the tensor-core GEMM (NVIDIA's mma.sync); AMD builds run the tiled
/// SIMT GEMM for every dtype.
#if defined(SLIMLM_GPU_MMA_SYNC)
constexpr bool kHasTensorCoreGemm = true;
#else
constexpr bool kHasTensorCoreGemm = false;
#endif

/// Tensor-core GEMM tiles: 128 x 128 per block of 8 warps (each 64 x 32), 32 input channels per
/// stage, kGemmStages stages in flight (cp.async).
constexpr int kGemmTileM = 128, kGemmTileN = 128, kGemmTileK = 32, kGemmStages = 3;
/// SIMT GEMM tiles: 64 x 64 per block of 256 threads (4 x 4 outputs each), 16 channels per step.
constexpr int kSimtTileM = 64, kSimtTileN = 64, kSimtTileK = 16;
/// Rows of a up to which matmul runs the GEMV kernel.
constexpr int64_t kGemvMaxRows = 8;

/// Which matmul kernel a problem gets. `halfOperands`: a and b are both f16 or both bf16.
/// `tensorCoreLayout`: each operand has unit stride along one of its two axes, with the other
/// stride a multiple of 8 elements and its address 16-byte aligned (cp.async moves 16 bytes).
struct GemmPlan {
  GemmKind kind;
  int64_t tilesM, tilesN, batch;
  int64_t sharedBytes;  // tensor-core kernel: dynamic shared memory per block, at most
};

/// Dynamic shared memory of the tensor-core GEMM at most (its layouts differ by a few bytes): per
/// stage an a and a b tile, each [128][32 + 8] halves (K-contiguous) or [32][128 + 8] (rows
/// contiguous), rows padded by 16 bytes against bank conflicts.
inline int64_t gemmSharedBytes() {
  const int64_t tileHalves =
      std::max<int64_t>(kGemmTileM * (kGemmTileK + 8), kGemmTileK * (kGemmTileM + 8));
  return static_cast<int64_t>(kGemmStages) * 2 * tileHalves * 2;
}

inline GemmPlan planGemm(int64_t batch, int64_t m, int64_t n, int64_t k, bool halfOperands,
                         bool tensorCoreLayout) {
  GemmPlan plan{};
  plan.batch = batch;
  if (m <= kGemvMaxRows) {
    plan.kind = GemmKind::gemv;
    return plan;
  }
  if (kHasTensorCoreGemm && halfOperands && tensorCoreLayout) {
    plan.kind = GemmKind::tensorCore;
    plan.tilesM = ceilDiv(m, kGemmTileM);
    plan.tilesN = ceilDiv(n, kGemmTileN);
    plan.sharedBytes = gemmSharedBytes();
    return plan;
  }
  plan.kind = GemmKind::simt;
  plan.tilesM = ceilDiv(m, kSimtTileM);
  plan.tilesN = ceilDiv(n, kSimtTileN);
  return plan;
}

// ---- attention ----

/// Query rows per block of the prefill kernel (one warp each); keys per shared-memory tile (one
/// per lane).
constexpr int kAttentionQueriesPerBlock = 8, kAttentionKeyTile = 32;
/// The prefill kernel's dynamic shared memory for head dimensions D (keys) and Dv (values): a key
/// tile [32][D + 1] (padded against bank conflicts), a value tile [32][Dv] and the block's
/// queries [8][D], all f32.
constexpr int64_t attentionSharedBytes(int64_t depth, int64_t valueDepth) {
  return (kAttentionKeyTile * (depth + 1 + valueDepth) + kAttentionQueriesPerBlock * depth) * 4;
}

/// The largest multiple of 32 (up to 256) whose prefill tiles fit in a block's shared memory.
constexpr int64_t largestAttentionDepth() {
  int64_t depth = 256;
  while (depth > 32 && attentionSharedBytes(depth, depth) > kMaxSharedBytesPerBlock) depth -= 32;
  return depth;
}

/// Largest head dimension the kernels take (a lane keeps ceil(D / 32) values in registers):
/// 256 on NVIDIA, 224 within AMD's 64 KiB of shared memory.
constexpr int64_t kAttentionMaxDepth = largestAttentionDepth();
/// Query rows up to which the decode kernel runs.
constexpr int64_t kAttentionDecodeMaxQueries = 4;

struct AttentionPlan {
  /// Decode (few queries): one block of 8 warps per (batch, head, query), warps splitting keys.
  /// Prefill: one block per (batch, head, 8 queries), keys streamed through shared memory.
  bool decode;
  int64_t blocks;
  /// Dynamic shared memory of the prefill kernel (attentionSharedBytes).
  int64_t sharedBytes;
};

inline AttentionPlan planAttention(int64_t batch, int64_t heads, int64_t queries, int64_t depth,
                                   int64_t valueDepth) {
  AttentionPlan plan{};
  plan.decode = queries <= kAttentionDecodeMaxQueries;
  const int64_t rows = batch * heads;
  if (plan.decode) {
    plan.blocks = rows * queries;
  } else {
    plan.blocks = rows * ceilDiv(queries, kAttentionQueriesPerBlock);
    plan.sharedBytes = attentionSharedBytes(depth, valueDepth);
  }
  return plan;
}

}  // namespace slimlm::cuda
