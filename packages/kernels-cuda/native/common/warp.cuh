// Warp- and block-wide sums and maxima (256-thread blocks of 8 warps, or one warp alone); a warp
// is 32 lanes on every GPU (common/gpu.h).
#pragma once

#include <cmath>

#include "common/gpu.h"

namespace slimlm::cuda {

template <typename T>
__device__ __forceinline__ T warpSum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += shuffleXor(v, offset);
  return v;
}

__device__ __forceinline__ float warpMax(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, shuffleXor(v, offset));
  return v;
}

/// The sum over a whole block of `Warps` warps, returned to every thread. `scratch` holds one
/// value per warp; the call ends with a barrier, so scratch may be reused right after.
template <int Warps, typename T>
__device__ __forceinline__ T blockSum(T v, T* scratch) {
  v = warpSum(v);
  if constexpr (Warps == 1) return v;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T total = lane < Warps ? scratch[lane] : T(0);
  total = warpSum(total);
  __syncthreads();
  return total;
}

template <int Warps>
__device__ __forceinline__ float blockMax(float v, float* scratch) {
  v = warpMax(v);
  if constexpr (Warps == 1) return v;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float best = lane < Warps ? scratch[lane] : -INFINITY;
  best = warpMax(best);
  __syncthreads();
  return best;
}

}  // namespace slimlm::cuda
