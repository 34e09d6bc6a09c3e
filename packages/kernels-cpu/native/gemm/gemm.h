// The GEMM family: its arguments, its per-ISA table, and the N-API bindings' entry point.
#pragma once

#include "slimlm/common.h"

namespace slimlm {

/// A strided 2-D matrix, repeated `batch` times `batchStride` elements apart. Strides are in
/// elements and may be anything (a transposed view has colStride != 1), including 0.
struct Matrix {
  const void* data;
  DType dtype;
  int64_t rowStride;
  int64_t colStride;
  int64_t batchStride;
};

/// C[b] = A[b] (m x k) @ B[b] (k x n) for b < batch; C is written row-major and contiguous per
/// batch (cBatchStride apart, ldc = n), in cType.
struct GemmArgs {
  int64_t batch, m, n, k;
  Matrix a, b;
  void* c;
  DType cType;
  int64_t cBatchStride;
};

/// One ISA's GEMM kernels.
struct GemmTable {
  void (*gemm)(const GemmArgs& args, const Parallel& parallel);
};

namespace avx512 { const GemmTable& gemmTable(); }
namespace avx2 { const GemmTable& gemmTable(); }
namespace scalar { const GemmTable& gemmTable(); }


}  // namespace slimlm
