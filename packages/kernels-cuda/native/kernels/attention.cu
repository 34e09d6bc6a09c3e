// scaledDotProductAttention with an online softmax (running maximum and sum, f32), so that the
// scores of a row never exist in memory.
//
//   decode (at most 4 queries): a block of 8 warps per query row; the warps take keys in turn,
//     lanes splitting the head dimension (coalesced reads of each key and value row, one
//     warp-wide sum per score); the 8 running states are merged at the end.
//   prefill: a block per 8 query rows (a warp each); keys and values pass through shared memory
//     32 at a time (f32), lane j scoring key j of the tile, then every lane adding the tile's
//     weighted values for its output channels.
// Causal rows see keys j <= i + Tk - Tq; a row that sees no key outputs zeros, as the reference.
#include <cmath>

#include "common/plans.h"
#include "common/values.cuh"
#include "common/warp.cuh"
#include "kernels/kernels.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda {
namespace {

constexpr int kChunks = kAttentionMaxDepth / 32;  // head-dimension values a lane may hold
constexpr int kWarps = 8;
constexpr int kKeyTile = kAttentionKeyTile;
static_assert(kKeyTile == 32, "lane j scores key j of a tile");

/// Element offsets of row (b, h, t) of q, k or v (unit stride along the head dimension).
__device__ __forceinline__ int64_t rowOffset(const int64_t (&s)[3], int64_t b, int64_t h, int64_t t) {
  return b * s[0] + h * s[1] + t * s[2];
}

__device__ __forceinline__ float maskAt(const AttentionArgs& a, int64_t b, int64_t h, int64_t i, int64_t j) {
  if (a.mask == nullptr) return 0.0f;
  return loadAsFloat(a.mask, a.type, b * a.maskStrides[0] + h * a.maskStrides[1] + i * a.maskStrides[2] + j * a.maskStrides[3]);
}

/// Keys query row i may see.
__device__ __forceinline__ int64_t visibleKeys(const AttentionArgs& a, int64_t i) {
  if (!a.causal) return a.keyLength;
  const int64_t v = i + a.keyLength - a.queryLength + 1;
  return v < 0 ? 0 : (v > a.keyLength ? a.keyLength : v);
}

__global__ void __launch_bounds__(kWarps * 32) decodeKernel(AttentionArgs a) {
  __shared__ float states[kWarps][2];
  __shared__ float outputs[kWarps][kAttentionMaxDepth];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t i = blockIdx.x % a.queryLength;
  const int64_t bh = blockIdx.x / a.queryLength;
  const int64_t h = bh % a.queryHeads, b = bh / a.queryHeads;
  const int64_t kvh = h / (a.queryHeads / a.kvHeads);

  float q[kChunks], o[kChunks];
  const int64_t qRow = rowOffset(a.qStrides, b, h, i);
#pragma unroll
  for (int t = 0; t < kChunks; t++) {
    const int64_t d = lane + 32 * t;
    q[t] = d < a.depth ? loadAsFloat(a.q, a.type, qRow + d) * a.scale : 0.0f;
    o[t] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const int64_t keys = visibleKeys(a, i);
  for (int64_t j = warp; j < keys; j += kWarps) {
    const int64_t kRow = rowOffset(a.kStrides, b, kvh, j);
    float partial = 0.0f;
#pragma unroll
    for (int t = 0; t < kChunks; t++) {
      const int64_t d = lane + 32 * t;
      if (d < a.depth) partial = fmaf(q[t], loadAsFloat(a.k, a.type, kRow + d), partial);
    }
    const float score = warpSum(partial) + maskAt(a, b, h, i, j);
    if (score == -INFINITY) continue;
    const float mNew = fmaxf(m, score);
    const float keep = expf(m - mNew), p = expf(score - mNew);
    l = l * keep + p;
    const int64_t vRow = rowOffset(a.vStrides, b, kvh, j);
#pragma unroll
    for (int t = 0; t < kChunks; t++) {
      const int64_t e = lane + 32 * t;
      o[t] = o[t] * keep + (e < a.valueDepth ? p * loadAsFloat(a.v, a.type, vRow + e) : 0.0f);
    }
    m = mNew;
  }
  if (lane == 0) {
    states[warp][0] = m;
    states[warp][1] = l;
  }
#pragma unroll
  for (int t = 0; t < kChunks; t++) {
    const int64_t e = lane + 32 * t;
    if (e < a.valueDepth) outputs[warp][e] = o[t];
  }
  __syncthreads();
  float total = -INFINITY;
  for (int w = 0; w < kWarps; w++) total = fmaxf(total, states[w][0]);
  float denominator = 0.0f;
  for (int w = 0; w < kWarps; w++)
    if (states[w][0] != -INFINITY) denominator += states[w][1] * expf(states[w][0] - total);
  const int64_t outRow = ((b * a.queryHeads + h) * a.queryLength + i) * a.valueDepth;
  for (int64_t e = threadIdx.x; e < a.valueDepth; e += blockDim.x) {
    float v = 0.0f;
    if (total != -INFINITY) {
      for (int w = 0; w < kWarps; w++)
        if (states[w][0] != -INFINITY) v += outputs[w][e] * expf(states[w][0] - total);
      v /= denominator;
    }
    storeFloat(a.out, a.type, outRow + e, v);
  }
}

__global__ void __launch_bounds__(kWarps * 32) prefillKernel(AttentionArgs a) {
  extern __shared__ float shared[];
  const int64_t depth = a.depth, valueDepth = a.valueDepth;
  float* keysTile = shared;                             // [32][depth + 1]
  float* valuesTile = keysTile + kKeyTile * (depth + 1);  // [32][valueDepth]
  float* queries = valuesTile + kKeyTile * valueDepth;   // [8][depth]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t tiles = (a.queryLength + kWarps - 1) / kWarps;
  const int64_t i0 = (blockIdx.x % tiles) * kWarps;
  const int64_t bh = blockIdx.x / tiles;
  const int64_t h = bh % a.queryHeads, b = bh / a.queryHeads;
  const int64_t kvh = h / (a.queryHeads / a.kvHeads);
  const int64_t i = i0 + warp;
  const bool active = i < a.queryLength;

  if (active) {
    const int64_t qRow = rowOffset(a.qStrides, b, h, i);
    for (int64_t d = lane; d < depth; d += 32) queries[warp * depth + d] = loadAsFloat(a.q, a.type, qRow + d) * a.scale;
  }
  // The block's last row sees the most keys.
  const int64_t lastRow = min(a.queryLength, i0 + kWarps) - 1;
  const int64_t blockKeys = visibleKeys(a, lastRow);
  const int64_t keys = active ? visibleKeys(a, i) : 0;

  float o[kChunks];
#pragma unroll
  for (int t = 0; t < kChunks; t++) o[t] = 0.0f;
  float m = -INFINITY, l = 0.0f;

  for (int64_t j0 = 0; j0 < blockKeys; j0 += kKeyTile) {
    __syncthreads();  // the previous tile has been read (and the queries written)
    for (int64_t e = threadIdx.x; e < kKeyTile * depth; e += blockDim.x) {
      const int64_t r = e / depth, d = e % depth, j = j0 + r;
      keysTile[r * (depth + 1) + d] = j < a.keyLength ? loadAsFloat(a.k, a.type, rowOffset(a.kStrides, b, kvh, j) + d) : 0.0f;
    }
    for (int64_t e = threadIdx.x; e < kKeyTile * valueDepth; e += blockDim.x) {
      const int64_t r = e / valueDepth, d = e % valueDepth, j = j0 + r;
      valuesTile[r * valueDepth + d] = j < a.keyLength ? loadAsFloat(a.v, a.type, rowOffset(a.vStrides, b, kvh, j) + d) : 0.0f;
    }
    __syncthreads();
    if (!active || j0 >= keys) continue;
    // Lane j scores key j0 + j.
    const int64_t j = j0 + lane;
    float score = -INFINITY;
    if (j < keys) {
      float dot = 0.0f;
      for (int64_t d = 0; d < depth; d++) dot = fmaf(queries[warp * depth + d], keysTile[lane * (depth + 1) + d], dot);
      score = dot + maskAt(a, b, h, i, j);
    }
    const float mNew = fmaxf(m, warpMax(score));
    if (mNew == -INFINITY) continue;  // nothing visible yet
    const float p = score == -INFINITY ? 0.0f : expf(score - mNew);
    const float keep = expf(m - mNew);
    l = l * keep + warpSum(p);
#pragma unroll
    for (int t = 0; t < kChunks; t++) o[t] *= keep;
    for (int r = 0; r < kKeyTile; r++) {
      const float pr = shuffle(p, r);
      if (pr == 0.0f) continue;
#pragma unroll
      for (int t = 0; t < kChunks; t++) {
        const int64_t e = lane + 32 * t;
        if (e < valueDepth) o[t] = fmaf(pr, valuesTile[r * valueDepth + e], o[t]);
      }
    }
    m = mNew;
  }
  if (!active) return;
  const int64_t outRow = ((b * a.queryHeads + h) * a.queryLength + i) * valueDepth;
#pragma unroll
  for (int t = 0; t < kChunks; t++) {
    const int64_t e = lane + 32 * t;
    if (e < valueDepth) storeFloat(a.out, a.type, outRow + e, m == -INFINITY ? 0.0f : o[t] / l);
  }
}

}  // namespace

void launchAttention(const AttentionArgs& args, cudaStream_t stream, int multiprocessors) {
  (void)multiprocessors;
  const AttentionPlan plan =
      planAttention(args.batch, args.queryHeads, args.queryLength, args.depth, args.valueDepth);
  if (plan.blocks == 0 || args.valueDepth == 0) return;
  if (plan.decode) {
    decodeKernel<<<static_cast<unsigned>(plan.blocks), kWarps * 32, 0, stream>>>(args);
    checkLaunch("scaledDotProductAttention (decode)", stream);
    return;
  }
  static const bool raised = [] {
    check(cudaFuncSetAttribute(prefillKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(planAttention(1, 1, kAttentionDecodeMaxQueries + 1,
                                                              kAttentionMaxDepth, kAttentionMaxDepth)
                                                    .sharedBytes)),
          "raising the attention kernel's shared memory");
    return true;
  }();
  (void)raised;
  prefillKernel<<<static_cast<unsigned>(plan.blocks), kWarps * 32, plan.sharedBytes, stream>>>(args);
  checkLaunch("scaledDotProductAttention (prefill)", stream);
}

}  // namespace slimlm::cuda
