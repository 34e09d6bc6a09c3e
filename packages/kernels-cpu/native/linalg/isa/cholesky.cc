// Blocked Cholesky factorisation and inverse from a Cholesky factor, f32 storage, after LAPACK's
// potrf / potri (trtri + lauum), with NB-column blocks:
//
//   cholesky (left-looking, one GEMM per block column):
//     for each block column k:
//       T = L[k:, :k] @ L[k, :k]ᵀ                       native GEMM, threaded over rows
//       diagonal block: D = A[k, k] - T[k], Cholesky in f64 (the pivots are checked here)
//       below it: L[i, k] = (A[i, k] - T[i]) L[k, k]⁻ᵀ   triangular solve in f64, threaded
//   choleskyInverse:
//     X = L⁻¹, block columns right to left: X[k, k] = L[k, k]⁻¹ (f64), and for each block row
//       i > k, X[i, k] = -(X[i, k+1:i+1] @ L[k+1:i+1, k]) X[k, k]   GEMM per block row, threaded
//     out = Xᵀ X, one GEMM per lower block (i, j), threaded, mirrored into the upper triangle
//
// Work is n³/3 flops for the factor and 2n³/3 for the inverse, nearly all of it in the f32 GEMM
// (which accumulates in f32, like LAPACK's sgemm); the O(n² NB) rest runs in f64.
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "gemm/gemm.h"
#include "linalg/linalg.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

constexpr int64_t NB = 128;   // block columns
constexpr int64_t ROWS = 32;  // rows per triangular-solve task (f64 lanes in the inner loop)

/// 64-byte aligned scratch memory, freed with the object.
struct Buffer {
  void* data = nullptr;
  explicit Buffer(size_t bytes) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    data = std::aligned_alloc(64, rounded > 0 ? rounded : 64);
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  float* floats() const { return static_cast<float*>(data); }
  double* doubles() const { return static_cast<double*>(data); }
};

void serialRun(void* pool, int64_t count, int64_t grain, ParallelFn fn, void* ctx) {
  if (count > 0) fn(ctx, 0, count);
}

/// A Parallel that runs everything on the calling thread (GEMMs inside a parallel task).
const Parallel kSerial{nullptr, serialRun, 1};

/// c (m x n, contiguous) = a (m x k) @ b (k x n), f32, strides in elements.
void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t aRow, int64_t aCol, const float* b,
          int64_t bRow, int64_t bCol, float* c, const Parallel& parallel) {
  GemmArgs args{};
  args.batch = 1;
  args.m = m;
  args.n = n;
  args.k = k;
  args.a = Matrix{a, DType::f32, aRow, aCol, 0};
  args.b = Matrix{b, DType::f32, bRow, bCol, 0};
  args.c = c;
  args.cType = DType::f32;
  args.cBatchStride = 0;
  gemmTable().gemm(args, parallel);
}

/// Runs fn(ctx, begin, end) over [0, count), on the pool when it has more than one thread.
void parallelFor(const Parallel& parallel, int64_t count, ParallelFn fn, void* ctx) {
  if (parallel.threads > 1 && count > 1) parallel(count, 1, fn, ctx);
  else if (count > 0) fn(ctx, 0, count);
}

/// out (contiguous n x n) = the lower triangle of `a` (upper: of its transpose), zeros above.
void copyLower(const SquareInput& a, bool upper, float* out) {
  const int64_t n = a.n;
  const int64_t rs = upper ? a.colStride : a.rowStride;
  const int64_t cs = upper ? a.rowStride : a.colStride;
  // Tiles, so that a transposed read stays within a few cache lines per row.
  constexpr int64_t T = 32;
  for (int64_t i0 = 0; i0 < n; i0 += T) {
    const int64_t i1 = i0 + T < n ? i0 + T : n;
    for (int64_t j0 = 0; j0 <= i0; j0 += T) {
      const int64_t j1 = j0 + T < n ? j0 + T : n;
      for (int64_t i = i0; i < i1; i++) {
        const float* row = a.data + i * rs;
        float* target = out + i * n;
        for (int64_t j = j0; j < j1; j++) target[j] = j <= i ? row[j * cs] : 0.0f;
      }
    }
    for (int64_t i = i0; i < i1; i++) {
      const int64_t start = i0 + T;
      if (start < n) std::memset(out + i * n + start, 0, (n - start) * sizeof(float));
    }
  }
}

/// Moves the lower triangle of `out` (n x n) to the upper one, transposed, leaving zeros below.
void lowerToUpper(float* out, int64_t n) {
  constexpr int64_t T = 32;
  for (int64_t i0 = 0; i0 < n; i0 += T) {
    const int64_t i1 = i0 + T < n ? i0 + T : n;
    for (int64_t j0 = 0; j0 <= i0; j0 += T) {
      const int64_t j1 = j0 + T < n ? j0 + T : n;
      for (int64_t i = i0; i < i1; i++) {
        for (int64_t j = j0; j < j1 && j < i; j++) {
          out[j * n + i] = out[i * n + j];
          out[i * n + j] = 0.0f;
        }
      }
    }
  }
}

/// Cholesky of the w x w f64 matrix d (row-major, lower triangle read) in place; returns the
/// index of the first pivot that is not > 0 (its value in *value), or -1.
int64_t factorDiagonal(double* d, int64_t w, double* value) {
  for (int64_t j = 0; j < w; j++) {
    double* rowJ = d + j * w;
    double pivot = rowJ[j];
    for (int64_t p = 0; p < j; p++) pivot -= rowJ[p] * rowJ[p];
    if (!(pivot > 0)) {
      *value = pivot;
      return j;
    }
    const double root = std::sqrt(pivot);
    rowJ[j] = root;
    const double inverse = 1.0 / root;
    for (int64_t i = j + 1; i < w; i++) {
      double* rowI = d + i * w;
      double s = rowI[j];
      for (int64_t p = 0; p < j; p++) s -= rowI[p] * rowJ[p];
      rowI[j] = s * inverse;
    }
  }
  return -1;
}

/// inv (w x w, lower, zeros above) = the inverse of lower-triangular l (w x w, f64).
void invertLower(const double* l, int64_t w, double* inv) {
  std::memset(inv, 0, w * w * sizeof(double));
  // Row by row: inv[i][c] = (δ_ic - Σ_{c <= p < i} l[i][p] inv[p][c]) / l[i][i]; the inner loop
  // runs along a row of inv (contiguous).
  for (int64_t i = 0; i < w; i++) {
    double* target = inv + i * w;
    const double* li = l + i * w;
    for (int64_t p = 0; p < i; p++) {
      const double f = li[p];
      const double* source = inv + p * w;
      for (int64_t c = 0; c <= p; c++) target[c] -= f * source[c];
    }
    const double r = 1.0 / li[i];
    for (int64_t c = 0; c < i; c++) target[c] *= r;
    target[i] = r;
  }
}

// ---- cholesky -----------------------------------------------------------------------------

struct SolveTask {
  float* a;         // the matrix (n x n), block column k0 holds A - nothing subtracted yet
  const float* t;   // T (rows x w): what to subtract from block column k0, from row k0 on
  const double* l;  // the f64 diagonal factor (w x w)
  const double* inverseDiagonal;
  int64_t n, k0, w, first, last;  // rows [first, last) of a are solved
};

/// Rows of block column k0 below the diagonal block: x = (a - t) L⁻ᵀ, ROWS rows per task, the
/// rows kept transposed in f64 so that the inner loop runs across them.
void solveRows(void* context, int64_t begin, int64_t end) {
  const SolveTask& s = *static_cast<const SolveTask*>(context);
  alignas(64) double x[NB * ROWS];
  for (int64_t task = begin; task < end; task++) {
    const int64_t r0 = s.first + task * ROWS;
    const int64_t rows = s.last - r0 < ROWS ? s.last - r0 : ROWS;
    for (int64_t r = 0; r < rows; r++) {
      const float* source = s.a + (r0 + r) * s.n + s.k0;
      const float* minus = s.t + (r0 + r - s.k0) * s.w;
      for (int64_t j = 0; j < s.w; j++) x[j * ROWS + r] = static_cast<double>(source[j]) - minus[j];
    }
    for (int64_t r = rows; r < ROWS; r++) {
      for (int64_t j = 0; j < s.w; j++) x[j * ROWS + r] = 0.0;
    }
    for (int64_t j = 0; j < s.w; j++) {
      double* xj = x + j * ROWS;
      const double* lj = s.l + j * s.w;
      for (int64_t p = 0; p < j; p++) {
        const double f = lj[p];
        const double* xp = x + p * ROWS;
        for (int64_t r = 0; r < ROWS; r++) xj[r] -= f * xp[r];
      }
      const double scale = s.inverseDiagonal[j];
      for (int64_t r = 0; r < ROWS; r++) xj[r] *= scale;
    }
    for (int64_t r = 0; r < rows; r++) {
      float* target = s.a + (r0 + r) * s.n + s.k0;
      for (int64_t j = 0; j < s.w; j++) target[j] = static_cast<float>(x[j * ROWS + r]);
    }
  }
}

CholeskyStatus cholesky(const SquareInput& input, bool upper, float* a, const Parallel& parallel) {
  const int64_t n = input.n;
  if (n == 0) return CholeskyStatus{-1, 0};
  copyLower(input, upper, a);
  Buffer tBuffer(static_cast<size_t>(n) * NB * sizeof(float));
  Buffer dBuffer(NB * NB * sizeof(double));
  Buffer invBuffer(NB * sizeof(double));
  float* t = tBuffer.floats();
  double* d = dBuffer.doubles();
  double* inverseDiagonal = invBuffer.doubles();
  for (int64_t k0 = 0; k0 < n; k0 += NB) {
    const int64_t w = n - k0 < NB ? n - k0 : NB;
    const int64_t rows = n - k0;
    // T = L[k0:, :k0] @ L[k0:k0+w, :k0]ᵀ: the update from every block column already done.
    if (k0 > 0) gemm(rows, w, k0, a + k0 * n, n, 1, a + k0 * n, 1, n, t, parallel);
    else std::memset(t, 0, rows * w * sizeof(float));
    for (int64_t i = 0; i < w; i++) {
      for (int64_t j = 0; j <= i; j++) {
        d[i * w + j] = static_cast<double>(a[(k0 + i) * n + k0 + j]) - t[i * w + j];
      }
    }
    double value = 0;
    const int64_t failed = factorDiagonal(d, w, &value);
    if (failed >= 0) return CholeskyStatus{k0 + failed, value};
    for (int64_t i = 0; i < w; i++) {
      inverseDiagonal[i] = 1.0 / d[i * w + i];
      for (int64_t j = 0; j <= i; j++) a[(k0 + i) * n + k0 + j] = static_cast<float>(d[i * w + j]);
    }
    if (rows > w) {
      SolveTask task{a, t, d, inverseDiagonal, n, k0, w, k0 + w, n};
      parallelFor(parallel, (rows - w + ROWS - 1) / ROWS, solveRows, &task);
    }
  }
  if (upper) lowerToUpper(a, n);
  return CholeskyStatus{-1, 0};
}

// ---- choleskyInverse ----------------------------------------------------------------------

struct InverseColumnTask {
  float* x;             // n x n: block columns > k hold X = L⁻¹, the rest still L
  const float* panel;   // L[k0+w:, k0:k0+w], contiguous (rows x w)
  const double* dinv;   // X[k, k] = L[k, k]⁻¹ in f64 (w x w)
  int64_t n, k0, w;
};

/// Block row `task` below block k: X[i, k] = -(X[i, k+1:i+1] @ L[k+1:i+1, k]) X[k, k].
void inverseRows(void* context, int64_t begin, int64_t end) {
  const InverseColumnTask& s = *static_cast<const InverseColumnTask*>(context);
  const int64_t below = s.k0 + s.w;
  alignas(64) float t[NB * NB];
  alignas(64) double row[NB];
  for (int64_t task = begin; task < end; task++) {
    const int64_t i0 = below + task * NB;
    const int64_t iw = s.n - i0 < NB ? s.n - i0 : NB;
    gemm(iw, s.w, i0 + iw - below, s.x + i0 * s.n + below, s.n, 1, s.panel, s.w, 1, t, kSerial);
    for (int64_t r = 0; r < iw; r++) {
      const float* tr = t + r * s.w;
      for (int64_t c = 0; c < s.w; c++) row[c] = 0;
      for (int64_t q = 0; q < s.w; q++) {
        const double f = tr[q];
        const double* dq = s.dinv + q * s.w;
        for (int64_t c = 0; c <= q; c++) row[c] -= f * dq[c];
      }
      float* target = s.x + (i0 + r) * s.n + s.k0;
      for (int64_t c = 0; c < s.w; c++) target[c] = static_cast<float>(row[c]);
    }
  }
}

struct ProductTask {
  const float* x;  // X = L⁻¹, n x n lower
  float* out;
  int64_t n;
};

/// Lower block (i, j) of out = Xᵀ X, task = i (i + 1) / 2 + j: X[i0:, i]ᵀ @ X[i0:, j] (block
/// column i of X is zero above row i0), written there and mirrored above the diagonal. The
/// first tasks are the deepest products, so the pool's dynamic split balances them.
void productBlocks(void* context, int64_t begin, int64_t end) {
  const ProductTask& s = *static_cast<const ProductTask*>(context);
  alignas(64) float t[NB * NB];
  for (int64_t task = begin; task < end; task++) {
    int64_t ib = static_cast<int64_t>((std::sqrt(8.0 * static_cast<double>(task) + 1) - 1) / 2);
    while (ib * (ib + 1) / 2 > task) ib--;
    while ((ib + 1) * (ib + 2) / 2 <= task) ib++;
    const int64_t jb = task - ib * (ib + 1) / 2;
    const int64_t i0 = ib * NB, j0 = jb * NB;
    const int64_t iw = s.n - i0 < NB ? s.n - i0 : NB;
    const int64_t jw = s.n - j0 < NB ? s.n - j0 : NB;
    gemm(iw, jw, s.n - i0, s.x + i0 * s.n + i0, 1, s.n, s.x + i0 * s.n + j0, s.n, 1, t, kSerial);
    for (int64_t r = 0; r < iw; r++) {
      const int64_t cols = ib == jb ? r + 1 : jw;
      for (int64_t c = 0; c < cols; c++) {
        const float v = t[r * jw + c];
        s.out[(i0 + r) * s.n + j0 + c] = v;
        s.out[(j0 + c) * s.n + i0 + r] = v;
      }
    }
  }
}

void choleskyInverse(const SquareInput& factor, bool upper, float* out, const Parallel& parallel) {
  const int64_t n = factor.n;
  if (n == 0) return;
  Buffer xBuffer(static_cast<size_t>(n) * n * sizeof(float));
  float* x = xBuffer.floats();
  copyLower(factor, upper, x);
  const int64_t blocks = (n + NB - 1) / NB;
  Buffer panelBuffer(static_cast<size_t>(n) * NB * sizeof(float));
  Buffer lBuffer(NB * NB * sizeof(double));
  Buffer dinvBuffer(NB * NB * sizeof(double));
  float* panel = panelBuffer.floats();
  double* l = lBuffer.doubles();
  double* dinv = dinvBuffer.doubles();
  // X = L⁻¹, block columns from the last to the first.
  for (int64_t kb = blocks - 1; kb >= 0; kb--) {
    const int64_t k0 = kb * NB;
    const int64_t w = n - k0 < NB ? n - k0 : NB;
    for (int64_t i = 0; i < w; i++) {
      for (int64_t j = 0; j < w; j++) l[i * w + j] = j <= i ? x[(k0 + i) * n + k0 + j] : 0.0;
    }
    invertLower(l, w, dinv);
    const int64_t below = k0 + w;
    if (below < n) {
      for (int64_t r = below; r < n; r++) std::memcpy(panel + (r - below) * w, x + r * n + k0, w * sizeof(float));
      InverseColumnTask task{x, panel, dinv, n, k0, w};
      parallelFor(parallel, blocks - kb - 1, inverseRows, &task);
    }
    for (int64_t i = 0; i < w; i++) {
      for (int64_t j = 0; j <= i; j++) x[(k0 + i) * n + k0 + j] = static_cast<float>(dinv[i * w + j]);
    }
  }
  // out = Xᵀ X.
  ProductTask product{x, out, n};
  parallelFor(parallel, blocks * (blocks + 1) / 2, productBlocks, &product);
}

}  // namespace

const LinalgTable& linalgTable() {
  static const LinalgTable table = {cholesky, choleskyInverse};
  return table;
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
