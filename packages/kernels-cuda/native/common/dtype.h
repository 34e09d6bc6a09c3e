// Element types the kernels read and write, with codes shared with the TypeScript glue
// (src/kernels/launch.ts DTYPE_CODES). Plain C++: included by host and device code alike.
#pragma once

#include <cstdint>

#include "common/gpu.h"

namespace slimlm::cuda {

enum class DType : int32_t { f32 = 0, f16 = 1, bf16 = 2, i32 = 3, u8 = 4 };

/// Bytes per element of a dtype.
SLIMLM_HD constexpr int64_t bytesOf(DType t) {
  switch (t) {
    case DType::f32:
    case DType::i32: return 4;
    case DType::f16:
    case DType::bf16: return 2;
    case DType::u8: return 1;
  }
  return 0;
}

SLIMLM_HD constexpr bool isFloat(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }

}  // namespace slimlm::cuda
