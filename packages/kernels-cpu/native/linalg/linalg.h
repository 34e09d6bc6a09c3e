// The linear algebra family: Cholesky factorisation and the inverse from a Cholesky factor, f32
// with f64 arithmetic on the diagonal blocks and native GEMM for the bulk of the work.
#pragma once

#include "slimlm/common.h"

namespace slimlm {

/// A square f32 matrix read in place: element (i, j) is data[i * rowStride + j * colStride].
struct SquareInput {
  const float* data;
  int64_t n;
  int64_t rowStride;
  int64_t colStride;
};

/// What cholesky reports: pivot < 0 when the matrix is positive definite, else the first failing
/// pivot's index and its value (the diagonal entry left before its square root, in f64).
struct CholeskyStatus {
  int64_t pivot;
  double value;
};

/// One ISA's linear algebra kernels. `out` is a contiguous n x n f32 matrix.
struct LinalgTable {
  /// out = the lower Cholesky factor of the lower triangle of `a` (upper: U = the transpose of
  /// the factor of the upper triangle, read transposed); zeros in the other triangle.
  CholeskyStatus (*cholesky)(const SquareInput& a, bool upper, float* out, const Parallel& parallel);
  /// out = (L Lᵀ)⁻¹ for the lower factor L in `factor`'s lower triangle (upper: A = Uᵀ U with U in
  /// its upper triangle); out is symmetric.
  void (*choleskyInverse)(const SquareInput& factor, bool upper, float* out, const Parallel& parallel);
};

namespace avx512 { const LinalgTable& linalgTable(); }
namespace avx2 { const LinalgTable& linalgTable(); }
namespace scalar { const LinalgTable& linalgTable(); }

}  // namespace slimlm
