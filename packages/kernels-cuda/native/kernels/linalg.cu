// Cholesky factorisation and the inverse from a factor, on 64 x 64 tiles (kLinalgTile), every
// kernel on the device's one stream:
//
//   cholesky (right-looking): copy the lower triangle in; then per tile column p, one block
//     factors the diagonal tile in f64 shared memory and inverts it (f64), the blocks of the
//     panel below multiply it by that inverse's transpose (L21 = A21 L11⁻ᵀ), and the trailing
//     lower tiles take the rank-64 update A22 -= L21 L21ᵀ; with `upper`, a last transpose. A
//     pivot that is not > 0 stops the diagonal kernel and sets CholeskyStatus; every later
//     kernel reads the flag and returns, and the host reads it once at the end.
//   choleskyInverse: X = L⁻¹ tile by tile (the diagonal tiles inverted in f64, then, one launch
//     per distance d from the diagonal, X[i][j] = -X[i][i] Σ_{j<=k<i} L[i][k] X[k][j] for
//     i = j + d), then out = Xᵀ X over the lower tiles, each written twice (mirrored).
//
// The tiled products accumulate in f32 (with fused multiply-adds); the diagonal tiles, where the
// pivots and the inverses that the panel relies on are formed, in f64.
#include <cmath>

#include "common/gpu.h"
#include "common/launch.cuh"
#include "common/plans.h"
#include "kernels/linalg.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda {
namespace {

constexpr int kTile = kLinalgTile, kTileK = kLinalgTileK;
static_assert(kLinalgThreads == 256 && kTile == 64, "each thread owns 4 x 4 outputs of a 64 x 64 tile");

__device__ __forceinline__ int64_t smaller(int64_t a, int64_t b) { return a < b ? a : b; }

// ---- the tiled product: a 64 x 64 tile of A B, A [rows, depth] and B [depth, cols] strided ----

/// Element (r, c) of an operand at data[r * rowStride + c * colStride].
struct Operand {
  const float* data;
  int64_t rowStride, colStride;
};

using Staging = LinalgStaging;

/// acc[r][c] = Σ_{k < depth} A(row, k) B(k, col) for row = ty + 16 r, col = tx + 16 c (tx, ty the
/// thread's position in a 16 x 16 grid); rows >= `rows` and columns >= `cols` read as zero.
/// Operands are staged kTileK channels at a time, loaded along whichever axis is contiguous.
__device__ void tileProduct(Operand a, int64_t rows, Operand b, int64_t cols, int64_t depth, Staging& s,
                            float (&acc)[4][4]) {
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
#pragma unroll
  for (int r = 0; r < 4; r++)
#pragma unroll
    for (int c = 0; c < 4; c++) acc[r][c] = 0.0f;
  for (int64_t k0 = 0; k0 < depth; k0 += kTileK) {
    for (int e = t; e < kTile * kTileK; e += kLinalgThreads) {
      const bool aAlongK = a.colStride == 1;
      const int ar = aAlongK ? e / kTileK : e % kTile, ak = aAlongK ? e % kTileK : e / kTile;
      s.a[ak][ar] = ar < rows && k0 + ak < depth ? a.data[ar * a.rowStride + (k0 + ak) * a.colStride] : 0.0f;
      const bool bAlongCols = b.colStride == 1;
      const int bc = bAlongCols ? e % kTile : e / kTileK, bk = bAlongCols ? e / kTile : e % kTileK;
      s.b[bk][bc] = bc < cols && k0 + bk < depth ? b.data[(k0 + bk) * b.rowStride + bc * b.colStride] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kTileK; k++) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        av[i] = s.a[k][ty + 16 * i];
        bv[i] = s.b[k][tx + 16 * i];
      }
#pragma unroll
      for (int r = 0; r < 4; r++)
#pragma unroll
        for (int c = 0; c < 4; c++) acc[r][c] = fmaf(av[r], bv[c], acc[r][c]);
    }
    __syncthreads();
  }
}

/// store(i, j, acc[r][c]) for each of the thread's 16 results of tileProduct: tile row i = ty + 16 r,
/// column j = tx + 16 c.
template <typename Store>
__device__ __forceinline__ void forEachResult(const float (&acc)[4][4], Store store) {
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
  for (int r = 0; r < 4; r++)
#pragma unroll
    for (int c = 0; c < 4; c++) store(ty + 16 * r, tx + 16 * c, acc[r][c]);
}

// ---- diagonal tiles in f64 shared memory ----

/// Loads the lower triangle of the order-`size` tile at (origin, origin) of `v` (zeros above the
/// diagonal); rows and columns past `size` get the identity, so that they factor and invert to
/// themselves.
__device__ void loadLowerTile(const SquareView& v, int64_t origin, int size, DiagonalTile& tile) {
  for (int e = threadIdx.x; e < kTile * kTile; e += kLinalgThreads) {
    const int i = e / kTile, j = e % kTile;
    double value = i == j ? 1.0 : 0.0;
    if (i < size && j <= i) value = v.data[(origin + i) * v.rowStride + (origin + j) * v.colStride];
    tile[i][j] = value;
  }
  __syncthreads();
}

/// Writes the tile's first `size` rows and columns, rounded to f32, zeros above the diagonal.
__device__ void storeLowerTile(const DiagonalTile& tile, int size, float* out, int64_t stride) {
  for (int e = threadIdx.x; e < size * size; e += kLinalgThreads) {
    const int i = e / size, j = e % size;
    out[i * stride + j] = j <= i ? static_cast<float>(tile[i][j]) : 0.0f;
  }
}

/// Factors the tile in place (lower Cholesky, column by column). Returns the first column whose
/// pivot is not > 0, or -1, with that pivot in `failedValue` (the same in every thread).
__device__ int factorTile(DiagonalTile& tile, int size, double& failedValue) {
  __shared__ int failedAt;
  __shared__ double failed;
  if (threadIdx.x == 0) failedAt = -1;
  __syncthreads();
  for (int j = 0; j < size; j++) {
    if (threadIdx.x == 0) {
      const double d = tile[j][j];
      if (d > 0) {
        tile[j][j] = sqrt(d);
      } else {  // also NaN
        failedAt = j;
        failed = d;
      }
    }
    __syncthreads();
    if (failedAt >= 0) break;
    const double pivot = tile[j][j];
    for (int i = j + 1 + threadIdx.x; i < kTile; i += kLinalgThreads) tile[i][j] /= pivot;
    __syncthreads();
    const int m = kTile - j - 1;
    for (int e = threadIdx.x; e < m * m; e += kLinalgThreads) {
      const int i = j + 1 + e / m, c = j + 1 + e % m;
      if (c <= i) tile[i][c] -= tile[i][j] * tile[c][j];
    }
    __syncthreads();
  }
  failedValue = failed;
  return failedAt;
}

/// Inverts the lower triangular tile in place, last column first: with the columns right of j
/// already inverted, X[i][j] = -(Σ_{j<k<=i} X[i][k] L[k][j]) / L[j][j] (from X L = I).
__device__ void invertTile(DiagonalTile& tile) {
  const int i = threadIdx.x;
  for (int j = kTile - 1; j >= 0; j--) {
    const double inverse = 1.0 / tile[j][j];
    double sum = 0.0;
    if (i > j && i < kTile)
      for (int k = j + 1; k <= i; k++) sum += tile[i][k] * tile[k][j];
    __syncthreads();  // column j is read above before it is overwritten below
    if (i > j && i < kTile) tile[i][j] = -sum * inverse;
    if (i == j) tile[j][j] = inverse;
    __syncthreads();
  }
}

// ---- cholesky ----

/// out = the lower triangle of a (zeros above).
__global__ void copyLowerKernel(SquareView a, float* out) {
  const int64_t n = a.n;
  SLIMLM_GRID_STRIDE(e, n * n) {
    const int64_t i = e / n, j = e % n;
    out[e] = j <= i ? a.data[i * a.rowStride + j * a.colStride] : 0.0f;
  }
}

/// Factors diagonal tile p of w, writes L11 back and L11⁻¹ (f32, zeros above, identity past the
/// matrix's end) to `inverse`.
__global__ void __launch_bounds__(kLinalgThreads)
    factorDiagonalKernel(float* w, int64_t n, int64_t origin, float* inverse, CholeskyStatus* status) {
  __shared__ DiagonalTile tile;
  if (status->failed) return;
  const int size = static_cast<int>(smaller(kTile, n - origin));
  loadLowerTile(SquareView{w, n, n, 1}, origin, size, tile);
  double value;
  const int failedAt = factorTile(tile, size, value);
  if (failedAt >= 0) {
    if (threadIdx.x == 0) {
      status->pivot = static_cast<int32_t>(origin + failedAt);
      status->value = value;
      status->failed = 1;
    }
    return;
  }
  storeLowerTile(tile, size, w + origin * n + origin, n);
  __syncthreads();
  invertTile(tile);
  storeLowerTile(tile, kTile, inverse, kTile);
}

/// The panel below diagonal tile p (one block per tile row): L21 = A21 L11⁻ᵀ, in place (a block
/// reads its whole tile before writing it).
__global__ void __launch_bounds__(kLinalgThreads)
    panelKernel(float* w, int64_t n, int64_t origin, const float* inverse, const CholeskyStatus* status) {
  __shared__ Staging staging;
  if (status->failed) return;
  const int64_t row0 = origin + kTile * (1 + static_cast<int64_t>(blockIdx.x));
  const int64_t rows = smaller(kTile, n - row0);
  float acc[4][4];
  tileProduct(Operand{w + row0 * n + origin, n, 1}, rows, Operand{inverse, 1, kTile}, kTile, kTile, staging, acc);
  forEachResult(acc, [&](int i, int j, float v) {
    if (i < rows) w[(row0 + i) * n + origin + j] = v;
  });
}

/// The trailing lower tiles (I, J), J <= I, right of panel p: A[I][J] -= L[I][p] L[J][p]ᵀ.
__global__ void __launch_bounds__(kLinalgThreads)
    trailingKernel(float* w, int64_t n, int64_t origin, const CholeskyStatus* status) {
  __shared__ Staging staging;
  if (blockIdx.x > blockIdx.y || status->failed) return;
  const int64_t start = origin + kTile;
  const int64_t row0 = start + kTile * static_cast<int64_t>(blockIdx.y);
  const int64_t col0 = start + kTile * static_cast<int64_t>(blockIdx.x);
  const int64_t rows = smaller(kTile, n - row0), cols = smaller(kTile, n - col0);
  float acc[4][4];
  tileProduct(Operand{w + row0 * n + origin, n, 1}, rows, Operand{w + col0 * n + origin, 1, n}, cols, kTile,
              staging, acc);
  const bool diagonal = blockIdx.x == blockIdx.y;
  forEachResult(acc, [&](int i, int j, float v) {
    if (i < rows && j < cols && (!diagonal || j <= i)) w[(row0 + i) * n + col0 + j] -= v;
  });
}

/// out = outᵀ for a lower triangular out: each pair below the diagonal moves above it.
__global__ void transposeLowerKernel(float* out, int64_t n) {
  SLIMLM_GRID_STRIDE(e, n * n) {
    const int64_t i = e / n, j = e % n;
    if (j < i) {
      out[j * n + i] = out[e];
      out[e] = 0.0f;
    }
  }
}

// ---- choleskyInverse ----

/// X[I][I] = L[I][I]⁻¹ for every diagonal tile I (one block each), zeros above the diagonal.
__global__ void __launch_bounds__(kLinalgThreads) invertDiagonalKernel(SquareView factor, float* x) {
  __shared__ DiagonalTile tile;
  const int64_t n = factor.n, origin = kTile * static_cast<int64_t>(blockIdx.x);
  const int size = static_cast<int>(smaller(kTile, n - origin));
  loadLowerTile(factor, origin, size, tile);
  invertTile(tile);
  storeLowerTile(tile, size, x + origin * n + origin, n);
}

/// Tile (I, J) of X, I = J + distance (block J): X[I][J] = -X[I][I] Σ_{J<=K<I} L[I][K] X[K][J].
__global__ void __launch_bounds__(kLinalgThreads)
    invertBelowKernel(SquareView factor, float* x, int64_t distance) {
  __shared__ Staging staging;
  __shared__ SharedTile diagonal;  // X[I][I]
  __shared__ SharedTile sum;     // Σ L[I][K] X[K][J]
  const int64_t n = factor.n;
  const int64_t col0 = kTile * static_cast<int64_t>(blockIdx.x), row0 = col0 + kTile * distance;
  const int64_t rows = smaller(kTile, n - row0);
  float acc[4][4];
  tileProduct(Operand{factor.data + row0 * factor.rowStride + col0 * factor.colStride, factor.rowStride,
                      factor.colStride},
              rows, Operand{x + col0 * n + col0, n, 1}, kTile, row0 - col0, staging, acc);
  forEachResult(acc, [&](int i, int j, float v) { sum[i][j] = v; });
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  for (int e = threadIdx.x; e < kTile * kTile; e += kLinalgThreads) {
    const int i = e / kTile, j = e % kTile;
    diagonal[i][j] = i < rows && j < rows ? x[(row0 + i) * n + row0 + j] : 0.0f;
  }
  __syncthreads();
#pragma unroll
  for (int r = 0; r < 4; r++)
#pragma unroll
    for (int c = 0; c < 4; c++) acc[r][c] = 0.0f;
  for (int k = 0; k < rows; k++)
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
      for (int c = 0; c < 4; c++) acc[r][c] = fmaf(diagonal[ty + 16 * r][k], sum[k][tx + 16 * c], acc[r][c]);
  forEachResult(acc, [&](int i, int j, float v) {
    if (i < rows) x[(row0 + i) * n + col0 + j] = -v;
  });
}

/// out[I][J] = out[J][I] = Σ_{K>=I} X[K][I]ᵀ X[K][J] for the lower tiles J <= I.
__global__ void __launch_bounds__(kLinalgThreads) gramKernel(const float* x, float* out, int64_t n) {
  __shared__ Staging staging;
  if (blockIdx.x > blockIdx.y) return;
  const int64_t row0 = kTile * static_cast<int64_t>(blockIdx.y), col0 = kTile * static_cast<int64_t>(blockIdx.x);
  const int64_t rows = smaller(kTile, n - row0), cols = smaller(kTile, n - col0);
  float acc[4][4];
  tileProduct(Operand{x + row0 * n + row0, 1, n}, rows, Operand{x + row0 * n + col0, n, 1}, cols, n - row0,
              staging, acc);
  const bool diagonal = blockIdx.x == blockIdx.y;
  forEachResult(acc, [&](int i, int j, float v) {
    if (i >= rows || j >= cols) return;
    out[(row0 + i) * n + col0 + j] = v;
    if (!diagonal) out[(col0 + j) * n + row0 + i] = v;
  });
}

}  // namespace

void launchCholesky(const CholeskyArgs& args, cudaStream_t stream) {
  const int64_t n = args.a.n;
  if (n == 0) return;
  copyLowerKernel<<<gridFor(n * n), kThreads, 0, stream>>>(args.a, args.out);
  checkLaunch("cholesky (copy)", stream);
  const int64_t tiles = planCholesky(n).tiles;
  for (int64_t p = 0; p < tiles; p++) {
    const int64_t origin = p * kTile;
    factorDiagonalKernel<<<1, kLinalgThreads, 0, stream>>>(args.out, n, origin, args.diagonalInverse,
                                                          args.status);
    checkLaunch("cholesky (diagonal tile)", stream);
    const auto rest = static_cast<unsigned>(tiles - p - 1);
    if (rest == 0) break;
    panelKernel<<<rest, kLinalgThreads, 0, stream>>>(args.out, n, origin, args.diagonalInverse, args.status);
    checkLaunch("cholesky (panel)", stream);
    trailingKernel<<<dim3(rest, rest), kLinalgThreads, 0, stream>>>(args.out, n, origin, args.status);
    checkLaunch("cholesky (trailing update)", stream);
  }
  if (args.upper) {
    transposeLowerKernel<<<gridFor(n * n), kThreads, 0, stream>>>(args.out, n);
    checkLaunch("cholesky (transpose)", stream);
  }
}

void launchCholeskyInverse(const CholeskyInverseArgs& args, cudaStream_t stream) {
  const int64_t n = args.factor.n;
  if (n == 0) return;
  const auto tiles = static_cast<unsigned>(planCholesky(n).tiles);
  invertDiagonalKernel<<<tiles, kLinalgThreads, 0, stream>>>(args.factor, args.inverse);
  checkLaunch("choleskyInverse (diagonal tiles)", stream);
  for (unsigned distance = 1; distance < tiles; distance++) {
    invertBelowKernel<<<tiles - distance, kLinalgThreads, 0, stream>>>(args.factor, args.inverse, distance);
    checkLaunch("choleskyInverse (tiles below the diagonal)", stream);
  }
  gramKernel<<<dim3(tiles, tiles), kLinalgThreads, 0, stream>>>(args.inverse, args.out, n);
  checkLaunch("choleskyInverse (product)", stream);
}

}  // namespace slimlm::cuda
