// Products with few rows of A: GEMV (decode, one token at a time) and skinny GEMM. Memory-bound
// or close to it, so B is read straight from its storage, never packed, f16/bf16 widened in
// registers; the work is split over N so that every core streams its own part of B. Two layouts:
//   dot:  B has unit stride along K (B = W^T for a weight W [n, k], as linear() multiplies): each
//         output is a dot product of a row of A with a contiguous row of W. A tile keeps one
//         vector of partial sums per (row of A, row of W); with more rows of A than a tile holds,
//         K is walked in blocks so that the tile's rows of W stay in L1 for every group of rows.
//   axpy: B has unit stride along N: a task owns a strip of columns and adds x[p] * B[p, strip]
//         over every p, its accumulators in registers.
#include "gemm/isa/gemv.h"

#include "gemm/isa/simd.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

// Dot tiles: M rows of A x R rows of W accumulators. Up to kStreamRows rows of A, a tile streams
// several rows of W at once (eight with AVX-512: enough cache-line requests in flight to read
// DRAM at full speed) over all of K; more rows of A take square tiles over K blocks, which need
// fewer loads per FMA.
#if defined(__AVX512F__)
constexpr int kStreamRows = 2, kStreamTile = 8;
constexpr int kBlockRows = 4, kBlockTile = 4;
constexpr int kAxpyVectors = 16;  // accumulators per axpy strip, shared among the rows of A
#elif defined(__AVX2__)
constexpr int kStreamRows = 2, kStreamTile = 4;
constexpr int kBlockRows = 2, kBlockTile = 4;
constexpr int kAxpyVectors = 8;
#else
constexpr int kStreamRows = 1, kStreamTile = 4;
constexpr int kBlockRows = 1, kBlockTile = 4;
#endif
constexpr int64_t kDotBlock = 1024;  // K per block for square tiles
constexpr int64_t kMinTaskMacs = 1 << 15;
constexpr int64_t kAxpyMaxRows = 4;

#if defined(__AVX2__)
using Partial = Vec;
inline float total(Partial v) { return reduceAdd(v); }
#else
using Partial = float;
inline float total(Partial v) { return v; }
#endif

/// A's rows as f32, contiguous along K: row i of batch b starts at base + b * batchStride +
/// i * rowStride.
struct Rows {
  const float* base;
  int64_t batchStride;
  int64_t rowStride;
};

/// A converted to f32 (or gathered along K) when it is not already f32 with unit stride along K:
/// the calling thread's buffer, read by every task of the call.
thread_local Workspace scratch;

template <DType T>
void gatherRow(const void* base, int64_t stride, int64_t count, float* out) {
  const auto* in = typed<T>(base);
  for (int64_t p = 0; p < count; p++) out[p] = loadScalar<T>(in + p * stride);
}

Rows prepareRows(const GemmArgs& g) {
  const Matrix& a = g.a;
  if (a.dtype == DType::f32 && (a.colStride == 1 || g.k == 1)) {
    return Rows{static_cast<const float*>(a.data), a.batchStride, a.rowStride};
  }
  float* buffer = scratch.floats(g.batch * g.m * g.k);
  const int bytes = a.dtype == DType::f32 ? 4 : 2;
  for (int64_t b = 0; b < g.batch; b++) {
    for (int64_t i = 0; i < g.m; i++) {
      const void* row = static_cast<const char*>(a.data) + (b * a.batchStride + i * a.rowStride) * bytes;
      float* out = buffer + (b * g.m + i) * g.k;
      switch (a.dtype) {
        case DType::f16: gatherRow<DType::f16>(row, a.colStride, g.k, out); break;
        case DType::bf16: gatherRow<DType::bf16>(row, a.colStride, g.k, out); break;
        default: gatherRow<DType::f32>(row, a.colStride, g.k, out);
      }
    }
  }
  return Rows{buffer, g.m * g.k, g.k};
}

/// acc[i * R + r] (+)= sum over p in [p0, p0 + count) of x[i][p] * w[r][p]; starts from zero
/// when `start`.
template <DType T, int M, int R>
void dotBlock(const float* const* x, const typename Storage<T>::type* const* w, int64_t p0, int64_t count,
              Partial* acc, bool start) {
#if defined(__AVX2__)
  // Two cache lines of each row of W per step; the lines kPrefetchBytes ahead are requested into
  // L2 meanwhile, which keeps more of them in flight than the hardware prefetcher alone (+3-10%
  // of DRAM bandwidth measured here). Past a row's end they touch the next row, or nothing.
  constexpr int kStep = 128 / sizeof(typename Storage<T>::type);
  constexpr int kVectors = kStep / kLanes;
  constexpr int kPrefetchBytes = 1024;
  Vec sum[M][R];
  for (int i = 0; i < M; i++) {
    for (int r = 0; r < R; r++) sum[i][r] = start ? Vec{} : acc[i * R + r];
  }
  const int64_t end = p0 + count;
  int64_t p = p0;
  for (; p + kStep <= end; p += kStep) {
    for (int r = 0; r < R; r++) {
      const char* ahead = reinterpret_cast<const char*>(w[r] + p) + kPrefetchBytes;
      _mm_prefetch(ahead, _MM_HINT_T1);
      _mm_prefetch(ahead + 64, _MM_HINT_T1);
    }
    for (int v = 0; v < kVectors; v++) {
      Vec wv[R];
      for (int r = 0; r < R; r++) wv[r] = loadVec<T>(w[r] + p + v * kLanes);
      for (int i = 0; i < M; i++) {
        const Vec xv = loadUnaligned(x[i] + p + v * kLanes);
        for (int r = 0; r < R; r++) sum[i][r] = fma(xv, wv[r], sum[i][r]);
      }
    }
  }
  for (; p < end; p += kLanes) {
    const int64_t left = end - p < kLanes ? end - p : kLanes;
    Vec wv[R];
    for (int r = 0; r < R; r++) wv[r] = left == kLanes ? loadVec<T>(w[r] + p) : loadVecPartial<T>(w[r] + p, left);
    for (int i = 0; i < M; i++) {
      const Vec xv = left == kLanes ? loadUnaligned(x[i] + p) : loadVecPartial<DType::f32>(x[i] + p, left);
      for (int r = 0; r < R; r++) sum[i][r] = fma(xv, wv[r], sum[i][r]);
    }
  }
  for (int i = 0; i < M; i++) {
    for (int r = 0; r < R; r++) acc[i * R + r] = sum[i][r];
  }
#else
  for (int i = 0; i < M; i++) {
    for (int r = 0; r < R; r++) {
      float sum = start ? 0.0f : acc[i * R + r];
      for (int64_t p = p0; p < p0 + count; p++) sum += x[i][p] * loadScalar<T>(w[r] + p);
      acc[i * R + r] = sum;
    }
  }
#endif
}

/// dotBlock for `rows` (1..M) rows of A.
template <DType T, int M, int R>
void dotBlockRows(int64_t rows, const float* const* x, const typename Storage<T>::type* const* w, int64_t p0,
                  int64_t count, Partial* acc, bool start) {
  if constexpr (M > 1) {
    if (rows < M) return dotBlockRows<T, M - 1, R>(rows, x, w, p0, count, acc, start);
  }
  dotBlock<T, M, R>(x, w, p0, count, acc, start);
}

/// Groups of kBlockRows rows of A the dot path takes at most; more go to the packed GEMM, which
/// then wins (measured on Zen: f32 weights from ~32 rows, f16/bf16 from ~64, whose conversion the
/// packed path does once per element instead of once per group).
constexpr int64_t kDotMaxGroupsF32 = 8;
constexpr int64_t kDotMaxGroups = 16;
constexpr int64_t kDotMaxRows = kDotMaxGroups * kBlockRows > kStreamRows ? kDotMaxGroups * kBlockRows : kStreamRows;

struct Job {
  const GemmArgs* g;
  Rows rows;
  int64_t columnsPerTask;  // outputs per task: a multiple of the tile, or one axpy strip
  int64_t tasksPerBatch;
};

template <DType T, int M, int R>
void dotTasks(void* context, int64_t begin, int64_t end) {
  const Job& job = *static_cast<const Job*>(context);
  const GemmArgs& g = *job.g;
  const int64_t block = g.m <= kStreamRows ? g.k : kDotBlock;
  alignas(64) Partial acc[kDotMaxGroups * kBlockRows * kBlockTile > kStreamRows * kStreamTile
                              ? kDotMaxGroups * kBlockRows * kBlockTile
                              : kStreamRows * kStreamTile];
  for (int64_t task = begin; task < end; task++) {
    const int64_t batch = task / job.tasksPerBatch;
    const int64_t first = task % job.tasksPerBatch * job.columnsPerTask;
    const int64_t last = first + job.columnsPerTask < g.n ? first + job.columnsPerTask : g.n;
    const float* x[kDotMaxRows];
    for (int64_t i = 0; i < g.m; i++) x[i] = job.rows.base + batch * job.rows.batchStride + i * job.rows.rowStride;
    const auto* weights = typed<T>(g.b.data) + batch * g.b.batchStride;
    for (int64_t j = first; j < last; j += R) {
      // A short last tile repeats its last row of W and drops the extra outputs.
      const typename Storage<T>::type* w[R];
      for (int r = 0; r < R; r++) w[r] = weights + (j + r < last ? j + r : last - 1) * g.b.colStride;
      for (int64_t p0 = 0; p0 < g.k; p0 += block) {
        const int64_t count = g.k - p0 < block ? g.k - p0 : block;
        for (int64_t i0 = 0; i0 < g.m; i0 += M) {
          dotBlockRows<T, M, R>(g.m - i0, x + i0, w, p0, count, acc + i0 * R, p0 == 0);
        }
      }
      const int64_t count = last - j < R ? last - j : R;
      for (int64_t i = 0; i < g.m; i++) {
        float out[R];
        for (int r = 0; r < R; r++) out[r] = total(acc[i * R + r]);
        storeRow(g.c, g.cType, batch * g.cBatchStride + i * g.n + j, out, count);
      }
    }
  }
}

/// out[i][j] = sum over p < k of x[i][p] * b[p * rowStride + j], for j < cols (one strip).
template <DType T, int M>
void axpyStrip(const float* const* x, const typename Storage<T>::type* b, int64_t rowStride, int64_t k,
               int64_t cols, float* out) {
#if defined(__AVX2__)
  constexpr int V = kAxpyVectors / M;
  int64_t valid[V];
  for (int v = 0; v < V; v++) {
    const int64_t left = cols - v * kLanes;
    valid[v] = left < 0 ? 0 : left > kLanes ? kLanes : left;
  }
  Vec acc[M][V];
  for (int i = 0; i < M; i++) {
    for (int v = 0; v < V; v++) acc[i][v] = Vec{};
  }
  if (cols == V * kLanes) {
    for (int64_t p = 0; p < k; p++) {
      const auto* row = b + p * rowStride;
      for (int v = 0; v < V; v++) {
        const Vec bv = loadVec<T>(row + v * kLanes);
        for (int i = 0; i < M; i++) acc[i][v] = fma(broadcast(x[i] + p), bv, acc[i][v]);
      }
    }
  } else {
    for (int64_t p = 0; p < k; p++) {
      const auto* row = b + p * rowStride;
      for (int v = 0; v < V; v++) {
        if (valid[v] == 0) break;
        const auto* in = row + v * kLanes;
        const Vec bv = valid[v] == kLanes ? loadVec<T>(in) : loadVecPartial<T>(in, valid[v]);
        for (int i = 0; i < M; i++) acc[i][v] = fma(broadcast(x[i] + p), bv, acc[i][v]);
      }
    }
  }
  for (int i = 0; i < M; i++) {
    for (int v = 0; v < V && valid[v] > 0; v++) storePartial(out + i * cols + v * kLanes, acc[i][v], valid[v]);
  }
#else
  for (int64_t e = 0; e < M * cols; e++) out[e] = 0.0f;
  for (int64_t p = 0; p < k; p++) {
    const auto* row = b + p * rowStride;
    for (int i = 0; i < M; i++) {
      const float scale = x[i][p];
      for (int64_t j = 0; j < cols; j++) out[i * cols + j] += scale * loadScalar<T>(row + j);
    }
  }
#endif
}

/// Columns per axpy strip for `rows` rows of A.
int64_t stripWidth(int64_t rows) {
#if defined(__AVX2__)
  return kAxpyVectors / rows * kLanes;
#else
  return 64;
#endif
}

template <DType T>
void axpyRows(const float* const* x, int64_t rows, const typename Storage<T>::type* b, int64_t rowStride, int64_t k,
              int64_t cols, float* out) {
  switch (rows) {
    case 1: return axpyStrip<T, 1>(x, b, rowStride, k, cols, out);
    case 2: return axpyStrip<T, 2>(x, b, rowStride, k, cols, out);
    case 3: return axpyStrip<T, 3>(x, b, rowStride, k, cols, out);
    default: return axpyStrip<T, 4>(x, b, rowStride, k, cols, out);
  }
}

template <DType T>
void axpyTasks(void* context, int64_t begin, int64_t end) {
  const Job& job = *static_cast<const Job*>(context);
  const GemmArgs& g = *job.g;
  for (int64_t task = begin; task < end; task++) {
    const int64_t batch = task / job.tasksPerBatch;
    const int64_t first = task % job.tasksPerBatch * job.columnsPerTask;
    const int64_t cols = first + job.columnsPerTask < g.n ? job.columnsPerTask : g.n - first;
    const float* x[kAxpyMaxRows];
    for (int64_t i = 0; i < g.m; i++) x[i] = job.rows.base + batch * job.rows.batchStride + i * job.rows.rowStride;
    const auto* b = typed<T>(g.b.data) + batch * g.b.batchStride + first * g.b.colStride;
    float out[kAxpyMaxRows * 256];
    axpyRows<T>(x, g.m, b, g.b.rowStride, g.k, cols, out);
    for (int64_t i = 0; i < g.m; i++) {
      storeRow(g.c, g.cType, batch * g.cBatchStride + i * g.n + first, out + i * cols, cols);
    }
  }
}

template <DType T>
ParallelFn tasksFor(bool dot, int64_t m) {
  if (!dot) return axpyTasks<T>;
  return m <= kStreamRows ? dotTasks<T, kStreamRows, kStreamTile> : dotTasks<T, kBlockRows, kBlockTile>;
}

}  // namespace

bool gemv(const GemmArgs& g, const Parallel& parallel) {
  const int64_t dotRows = g.b.dtype == DType::f32 ? kDotMaxGroupsF32 * kBlockRows : kDotMaxRows;
  const bool dot = (g.b.rowStride == 1 || g.k == 1) && (g.m <= dotRows || g.m <= kStreamRows);
  const bool axpy = g.b.colStride == 1 && g.m <= kAxpyMaxRows;
  if (!dot && !axpy) return false;
  Job job{&g, prepareRows(g), 0, 0};
  if (dot) {
    // Enough tasks to balance the threads, each big enough to be worth scheduling.
    const int64_t tile = g.m <= kStreamRows ? kStreamTile : kBlockTile;
    const int64_t balanced = (g.n + 8 * parallel.threads - 1) / (8 * parallel.threads);
    const int64_t worthwhile = kMinTaskMacs / (g.m * g.k) + 1;
    const int64_t columns = balanced > worthwhile ? balanced : worthwhile;
    job.columnsPerTask = (columns + tile - 1) / tile * tile;
  } else {
    job.columnsPerTask = stripWidth(g.m);
  }
  job.tasksPerBatch = (g.n + job.columnsPerTask - 1) / job.columnsPerTask;
  const int64_t tasks = g.batch * job.tasksPerBatch;
  const int64_t macsPerTask = job.columnsPerTask * g.m * g.k;
  const int64_t grain = macsPerTask >= kMinTaskMacs ? 1 : kMinTaskMacs / macsPerTask;
  ParallelFn fn;
  switch (g.b.dtype) {
    case DType::f16: fn = tasksFor<DType::f16>(dot, g.m); break;
    case DType::bf16: fn = tasksFor<DType::bf16>(dot, g.m); break;
    default: fn = tasksFor<DType::f32>(dot, g.m);
  }
  parallel.run(parallel.pool, tasks, grain, fn, &job);
  return true;
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
