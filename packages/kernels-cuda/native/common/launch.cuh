// Launch shapes shared by the simple kernels: a grid-stride loop over `count` items.
#pragma once

#include <cstdint>

namespace slimlm::cuda {

constexpr int kThreads = 256;

/// Blocks for a grid-stride loop over `count` items: enough to fill the GPU many times over,
/// capped so that very large tensors loop instead of launching millions of blocks.
inline unsigned gridFor(int64_t count, int threads = kThreads) {
  const int64_t blocks = (count + threads - 1) / threads;
  constexpr int64_t kMaxBlocks = int64_t{1} << 16;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

#define SLIMLM_GRID_STRIDE(i, count)                                                           \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (count); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

}  // namespace slimlm::cuda
