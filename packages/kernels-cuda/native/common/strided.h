// Strided N-d operands as kernels take them: one shape, and per operand its strides in elements.
// The glue collapses axes first (src/kernels/layout.ts), so most calls arrive with rank 1 or 2;
// kMaxDims bounds what is left.
#pragma once

#include <cstdint>

#include "common/gpu.h"

namespace slimlm::cuda {

constexpr int kMaxDims = 8;

/// The shared shape of N operands and each one's strides.
template <int N>
struct Indexer {
  int32_t rank;
  int64_t dims[kMaxDims];
  int64_t strides[N][kMaxDims];

  /// The element offset in each operand of row-major index `linear` (one division per axis).
  SLIMLM_HD void offsets(int64_t linear, int64_t (&out)[N]) const {
    for (int k = 0; k < N; k++) out[k] = 0;
    if (rank == 1) {
      for (int k = 0; k < N; k++) out[k] = linear * strides[k][0];
      return;
    }
    for (int axis = rank - 1; axis >= 0; axis--) {
      const int64_t size = dims[axis];
      const int64_t index = linear % size;
      linear /= size;
      for (int k = 0; k < N; k++) out[k] += index * strides[k][axis];
    }
  }

  SLIMLM_HD int64_t size() const {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    return n;
  }
};

}  // namespace slimlm::cuda
