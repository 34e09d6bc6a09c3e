// GPTQ kernels for one ISA (compiled three times, see slimlm/common.h).
//
// Every bit width is handled in blocks of 32 input channels: one block of one column is exactly
// `bits` words of qweight (rows blk*bits .. blk*bits+bits-1), code j at bits b*j of that word
// stream, so the extraction of each code is a compile-time shift/mask (template on the width).
// Vectors run along N (qweight is contiguous along N): one vector of words gives one code of
// kLanes consecutive output channels.
//
//   qgemv (m <= 8, decode): each task owns a strip of columns and streams its part of qweight
//     once, all m rows of x at once. Per group: acc[i] = sum_k x[i,k] * q[k,:] in registers, then
//     y[i] += s * acc[i] - (z * s) * sum_k x[i,k] (the zero point hoisted out of the K loop, the
//     zero points unpacked a vector at a time), f32 FMAs over several independent accumulators.
//     With AVX512-VNNI (2, 4 and 8 bits, m <= 2) int8.cc's byte kernel takes it (qgemvExact), x
//     split into three int8 pieces (to 2^-23 of each block's largest |x|): 3 vpdpbusd per 4 codes,
//     where the int16 code pairs it replaces took 4 vpdpwssd and twice the extraction ops.
//   qgemm (m > 8, prefill): BLIS-style like gemm/isa/gemm.cc, but each task dequantizes its
//     KC x NC block of W straight into the micro-kernel's packed B panels (f32, in L2); W never
//     exists in f32 as a whole. A is packed once per M block and shared.
//   dequantize: W [n, k] f32, threaded over column tiles, any group map (g_idx).
#include <cmath>
#include <cstring>

#include "gemm/isa/microkernel.h"
#include "gemm/isa/pack.h"
#include "quant/isa/packed.h"
#include "quant/quant.h"
#include "runtime/dispatch.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

// ---- qgemv ----

struct GemvContext {
  const QuantMatmulArgs* args;
  const float* x;     // M rows (zero padded past m), k apart
  const float* xq;    // the same, each element scaled by xScale(bits, k % 32)
  const float* xsum;  // [M][groups]: sum of each row of x over each group
  int64_t groups, groupBlocks;
  int64_t stripWidth;   // columns per vector strip
  int64_t vectorStrips;  // full strips
  int64_t vectorEnd;    // columns below this run in vectors
  int64_t taskStrips;   // strips per task
  int64_t tasks;
  int32_t rows;         // M
};

/// Columns [col0, col1) for every row of x, one code at a time.
void gemvColumnsScalar(const GemvContext& c, int64_t col0, int64_t col1) {
  const QuantMatmulArgs& a = *c.args;
  const PackedWeight& w = a.w;
  for (int64_t col = col0; col < col1; col++) {
    for (int64_t i = 0; i < a.m; i++) {
      const float* x = c.x + i * w.k;
      float total = 0.0f;
      for (int64_t g = 0; g < c.groups; g++) {
        const int64_t k0 = g * c.groupBlocks * kBlock;
        const int64_t k1 = k0 + c.groupBlocks * kBlock < w.k ? k0 + c.groupBlocks * kBlock : w.k;
        float dot = 0.0f;
        for (int64_t p = k0; p < k1; p++) dot += x[p] * static_cast<float>(codeAt(w, p, col));
        const float s = scaleAt(w, g, col);
        total += s * dot - s * static_cast<float>(zeroAt(w, g, col)) * c.xsum[i * c.groups + g];
      }
      a.out[i * w.n + col] = total + biasAt(a.bias, a.biasType, col);
    }
  }
}

#if defined(__AVX2__)

// Cache lines of the strip requested this many blocks ahead (on top of the hardware prefetcher,
// which does not follow qweight's row stride across pages on its own).
constexpr int64_t kPrefetchBlocks = 4;

thread_local Workspace gemvSums;

/// out[i, col0 + j] = y[i * width + j] + bias, for the rows of x that exist.
template <int M>
void gemvStore(const GemvContext& c, const float* y, int64_t col0, int64_t width) {
  const QuantMatmulArgs& a = *c.args;
  const int64_t n = a.w.n;
  for (int64_t j = 0; j < width; j += kLanes) {
    const int64_t col = col0 + j;
    Vec bias = Vec{};
    if (a.bias != nullptr) {
      switch (a.biasType) {
        case DType::f16: bias = loadVec<DType::f16>(static_cast<const uint16_t*>(a.bias) + col); break;
        case DType::bf16: bias = loadVec<DType::bf16>(static_cast<const uint16_t*>(a.bias) + col); break;
        default: bias = loadVec<DType::f32>(static_cast<const float*>(a.bias) + col);
      }
    }
    for (int i = 0; i < M && i < a.m; i++) storeUnaligned(a.out + i * n + col, add(loadUnaligned(y + i * width + j), bias));
  }
}

/// Columns [col0, col0 + strips * V * kLanes) for every row of x. For each group the task walks
/// its V-vector strips in turn over the group's rows, so that each row of qweight is read as one
/// contiguous run of the task's columns (whole pages, which the hardware prefetcher follows)
/// rather than one strip at a time down all of K. Per group and strip, the sums of x * q stay in
/// registers; the running outputs live in a small buffer.
template <int B, int M, int V, int A>
void gemvStrips(const GemvContext& c, int64_t col0, int64_t strips) {
  const QuantMatmulArgs& a = *c.args;
  const PackedWeight& w = a.w;
  const int64_t n = w.n;
  const int64_t blocks = w.k / kBlock;
  constexpr int64_t kStrip = V * kLanes;
  const int64_t width = strips * kStrip;
  float* y = gemvSums.floats(M * width);
  for (int64_t i = 0; i < M * width; i++) y[i] = 0.0f;
  constexpr int kLinesPerRow = V * kLanes * 4 / 64 > 0 ? V * kLanes * 4 / 64 : 1;
  for (int64_t g = 0; g < c.groups; g++) {
    const int64_t b0 = g * c.groupBlocks;
    const int64_t b1 = b0 + c.groupBlocks < blocks ? b0 + c.groupBlocks : blocks;
    for (int64_t strip = 0; strip < strips; strip++) {
      const int64_t col = col0 + strip * kStrip;
      Vec acc[V][M][A];
      for (int v = 0; v < V; v++) {
        for (int i = 0; i < M; i++) {
          for (int r = 0; r < A; r++) acc[v][i][r] = Vec{};
        }
      }
      for (int64_t blk = b0; blk < b1; blk++) {
        const int32_t* rows = w.qweight + blk * B * n + col;
        if (blk + kPrefetchBlocks < blocks) {
          const int32_t* ahead = rows + kPrefetchBlocks * B * n;
          for (int t = 0; t < B; t++) {
            for (int line = 0; line < kLinesPerRow; line++) {
              _mm_prefetch(reinterpret_cast<const char*>(ahead + t * n + line * 16), _MM_HINT_T1);
            }
          }
        }
        VecI words[V][B];
        for (int v = 0; v < V; v++) {
          for (int t = 0; t < B; t++) words[v][t] = loadI(rows + t * n + v * kLanes);
        }
        accumulateCodes<B, M, V, A, 0>(words, c.xq + blk * kBlock, w.k, acc);
      }
      for (int v = 0; v < V; v++) {
        const Vec s = loadScales(w, g, col + v * kLanes);
        const Vec zs = mulF(loadZerosVec<B>(w, g, col + v * kLanes), s);
        for (int i = 0; i < M; i++) {
          Vec sum = acc[v][i][0];
          for (int r = 1; r < A; r++) sum = add(sum, acc[v][i][r]);
          float* sums = y + i * width + strip * kStrip + v * kLanes;
          Vec total = fma(s, sum, loadUnaligned(sums));
          storeUnaligned(sums, fnma(zs, setF(c.xsum[i * c.groups + g]), total));
        }
      }
    }
  }
  gemvStore<M>(c, y, col0, width);
}

template <int B, int M, int V, int A>
void gemvTasks(void* context, int64_t begin, int64_t end) {
  const GemvContext& c = *static_cast<const GemvContext*>(context);
  for (int64_t task = begin; task < end; task++) {
    const int64_t first = task * c.taskStrips;
    if (first < c.vectorStrips) {
      const int64_t strips = c.vectorStrips - first < c.taskStrips ? c.vectorStrips - first : c.taskStrips;
      gemvStrips<B, M, V, A>(c, first * c.stripWidth, strips);
    }
    if (task + 1 < c.tasks) continue;
    // The last task also takes the whole vectors past the last strip and the lanes past those.
    const int64_t rest = c.vectorStrips * c.stripWidth;
    if (rest < c.vectorEnd) gemvStrips<B, M, 1, A>(c, rest, (c.vectorEnd - rest) / kLanes);
    gemvColumnsScalar(c, c.vectorEnd, c.args->w.n);
  }
}

// Columns per task: about a page of each row of qweight at once.
constexpr int64_t kTaskColumns = 1024;

template <int B, int M, int V, int A>
void runGemvStrips(GemvContext& c, const Parallel& parallel) {
  c.stripWidth = V * kLanes;
  c.vectorEnd = c.args->w.n / kLanes * kLanes;
  c.vectorStrips = c.vectorEnd / c.stripWidth;
  // About kTaskColumns per task, as many tasks as a multiple of the threads (at least one).
  int64_t tasks = (c.vectorStrips * c.stripWidth + kTaskColumns - 1) / kTaskColumns;
  const int threads = parallel.threads;
  tasks = (tasks + threads - 1) / threads * threads;
  if (tasks > c.vectorStrips) tasks = c.vectorStrips;
  if (tasks < 1) tasks = 1;
  c.taskStrips = c.vectorStrips > 0 ? (c.vectorStrips + tasks - 1) / tasks : 0;
  c.tasks = c.taskStrips > 0 ? (c.vectorStrips + c.taskStrips - 1) / c.taskStrips : 1;
  if (threads > 1) parallel.run(parallel.pool, c.tasks, 1, gemvTasks<B, M, V, A>, &c);
  else gemvTasks<B, M, V, A>(&c, 0, c.tasks);
}

template <int B, int M>
void runGemv(GemvContext& c, const Parallel& parallel) {
#if defined(__AVX512F__)
  // f32 FMA: 8 accumulators (V vectors x M rows x A round-robin chains) and the codes' words.
  constexpr int V = M >= 8 ? 1 : M >= 4 ? 2 : 4;
  constexpr int A = M >= 4 ? 1 : 2 / M;
#else
  constexpr int V = M >= 4 ? 1 : 4 / M;
  constexpr int A = 1;
#endif
  runGemvStrips<B, M, V, A>(c, parallel);
}

template <int M>
void runGemvBits(GemvContext& c, const Parallel& parallel) {
  switch (c.args->w.bits) {
    case 2: return runGemv<2, M>(c, parallel);
    case 3: return runGemv<3, M>(c, parallel);
    case 4: return runGemv<4, M>(c, parallel);
    default: return runGemv<8, M>(c, parallel);
  }
}

#else

void scalarTasks(void* context, int64_t begin, int64_t end) {
  const GemvContext& c = *static_cast<const GemvContext*>(context);
  const int64_t n = c.args->w.n;
  for (int64_t task = begin; task < end; task++) {
    const int64_t col0 = task * c.stripWidth;
    gemvColumnsScalar(c, col0, col0 + c.stripWidth < n ? col0 + c.stripWidth : n);
  }
}

#endif

thread_local Workspace gemvScratch;

/// dst [m, k] = x's rows, channel i read from channel perm[i] (in order when perm is nullptr).
void copyRows(const float* x, const int32_t* perm, int64_t m, int64_t k, float* dst) {
  if (perm == nullptr) {
    std::memcpy(dst, x, m * k * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < m; i++) {
    for (int64_t p = 0; p < k; p++) dst[i * k + p] = x[i * k + perm[p]];
  }
}

void qgemv(const QuantMatmulArgs& a, const Parallel& parallel, int64_t groupBlocks) {
  const PackedWeight& w = a.w;
  const int rows = a.m <= 1 ? 1 : a.m <= 2 ? 2 : a.m <= 4 ? 4 : 8;
  const int64_t groups = (w.k / kBlock + groupBlocks - 1) / groupBlocks;
  float* x = gemvScratch.floats(2 * rows * w.k + rows * groups);
  float* xq = x + rows * w.k;
  float* xsum = xq + rows * w.k;
  copyRows(a.x, a.perm, a.m, w.k, x);
  QuantMatmulArgs gathered = a;
  gathered.x = x;
  gathered.perm = nullptr;
  if (qgemvExact(gathered, parallel)) return;
  std::memset(x + a.m * w.k, 0, (rows - a.m) * w.k * sizeof(float));
  for (int i = 0; i < rows; i++) {
    for (int64_t g = 0; g < groups; g++) {
      const int64_t k0 = g * groupBlocks * kBlock;
      const int64_t k1 = k0 + groupBlocks * kBlock < w.k ? k0 + groupBlocks * kBlock : w.k;
      float total = 0.0f;
      for (int64_t p = k0; p < k1; p++) total += x[i * w.k + p];
      xsum[i * groups + g] = total;
    }
  }
  GemvContext c{&a, x, xq, xsum, groups, groupBlocks, 0, 0, 0, 0, 0, rows};
  {  // the pre-scaled x (see xScale)
    float scale[kBlock];
    for (int j = 0; j < kBlock; j++) scale[j] = xScale(w.bits, j);
    for (int64_t p = 0; p < rows * w.k; p += kBlock) {
      for (int j = 0; j < kBlock; j++) xq[p + j] = x[p + j] * scale[j];
    }
  }
#if defined(__AVX2__)
  switch (rows) {
    case 1: return runGemvBits<1>(c, parallel);
    case 2: return runGemvBits<2>(c, parallel);
    case 4: return runGemvBits<4>(c, parallel);
    default: return runGemvBits<8>(c, parallel);
  }
#else
  c.stripWidth = 64;
  const int64_t tasks = (w.n + c.stripWidth - 1) / c.stripWidth;
  if (parallel.threads > 1) parallel.run(parallel.pool, tasks, 1, scalarTasks, &c);
  else scalarTasks(&c, 0, tasks);
#endif
}

// ---- qgemm ----

constexpr int64_t QKC = 512;  // K block (a multiple of kBlock)
constexpr int64_t QNC = 256;  // widest column block a task dequantizes (QKC x QNC f32: 512 KiB, L2)
constexpr int64_t kPackedAFloats = int64_t{1} << 22;

/// Packs W^T rows [p0, p0 + kc) x columns [col, col + NR) into a micro-kernel B panel
/// (dst[p * NR + lane]), lanes past n zero.
template <int B>
void dequantPanel(const PackedWeight& w, int64_t groupBlocks, int64_t p0, int64_t kc, int64_t col, float* dst) {
  const int64_t valid = w.n - col < NR ? w.n - col : NR;
#if defined(__AVX2__)
  if (valid == NR) {
    const VecI mask = setI((1 << B) - 1);
    for (int64_t p = 0; p < kc; p += kBlock) {
      const int64_t blk = (p0 + p) / kBlock;
      const int64_t g = blk / groupBlocks;
      const int32_t* rows = w.qweight + blk * B * w.n + col;
      for (int v = 0; v < NR / kLanes; v++) {
        VecI words[B];
        for (int t = 0; t < B; t++) words[t] = loadI(rows + t * w.n + v * kLanes);
        const Vec s = loadScales(w, g, col + v * kLanes);
        const Vec z = loadZerosVec<B>(w, g, col + v * kLanes);
        dequantCodes<B, 0>(words, mask, s, z, dst + p * NR + v * kLanes, NR);
      }
    }
    return;
  }
#endif
  for (int64_t p = 0; p < kc; p++) {
    const int64_t g = (p0 + p) / kBlock / groupBlocks;
    float* row = dst + p * NR;
    for (int64_t lane = 0; lane < NR; lane++) {
      if (lane >= valid) {
        row[lane] = 0.0f;
        continue;
      }
      const int64_t c = col + lane;
      row[lane] = scaleAt(w, g, c) * static_cast<float>(codeAt(w, p0 + p, c) - zeroAt(w, g, c));
    }
  }
}

void dequantPanelBits(const PackedWeight& w, int64_t groupBlocks, int64_t p0, int64_t kc, int64_t col, float* dst) {
  switch (w.bits) {
    case 2: return dequantPanel<2>(w, groupBlocks, p0, kc, col, dst);
    case 3: return dequantPanel<3>(w, groupBlocks, p0, kc, col, dst);
    case 4: return dequantPanel<4>(w, groupBlocks, p0, kc, col, dst);
    default: return dequantPanel<8>(w, groupBlocks, p0, kc, col, dst);
  }
}

struct GemmContext {
  const QuantMatmulArgs* args;
  int64_t groupBlocks;
  int64_t row0, rows, panels, kBlocks;
  float* packedA;  // panels x kBlocks slots of MR * QKC floats
  int64_t columnWidth, columnBlocks;
};

void packATasks(void* context, int64_t begin, int64_t end) {
  const GemmContext& c = *static_cast<const GemmContext*>(context);
  const PackedWeight& w = c.args->w;
  for (int64_t slot = begin; slot < end; slot++) {
    const int64_t panel = slot / c.kBlocks;
    const int64_t kBlock = slot % c.kBlocks;
    const int64_t row = panel * MR;
    const int64_t depth = w.k - kBlock * QKC < QKC ? w.k - kBlock * QKC : QKC;
    const PackSource source{
        c.args->x + (c.row0 + row) * w.k + kBlock * QKC, w.k, 1, c.rows - row < MR ? c.rows - row : MR, depth,
    };
    packPanel(DType::f32, source, MR, c.packedA + slot * MR * QKC);
  }
}

thread_local Workspace panelWorkspace;

void gemmTask(const GemmContext& c, int64_t task) {
  const QuantMatmulArgs& a = *c.args;
  const PackedWeight& w = a.w;
  const int64_t col0 = task * c.columnWidth;
  const int64_t width = col0 + c.columnWidth < w.n ? c.columnWidth : w.n - col0;
  if (width <= 0) return;
  const int64_t bPanels = (width + NR - 1) / NR;
  float* packedB = panelWorkspace.floats(bPanels * NR * QKC);
  float* out = a.out + c.row0 * w.n;
  for (int64_t kBlock = 0; kBlock < c.kBlocks; kBlock++) {
    const int64_t p0 = kBlock * QKC;
    const int64_t kc = w.k - p0 < QKC ? w.k - p0 : QKC;
    for (int64_t jp = 0; jp < bPanels; jp++) dequantPanelBits(w, c.groupBlocks, p0, kc, col0 + jp * NR, packedB + jp * NR * kc);
    const bool accumulate = kBlock > 0;
    for (int64_t panel = 0; panel < c.panels; panel++) {
      const float* packedA = c.packedA + (panel * c.kBlocks + kBlock) * MR * QKC;
      const int64_t row = panel * MR;
      const int64_t rows = c.rows - row < MR ? c.rows - row : MR;
      for (int64_t jp = 0; jp < bPanels; jp++) {
        const int64_t col = col0 + jp * NR;
        const int64_t cols = w.n - col < NR ? w.n - col : NR;
        float* dst = out + row * w.n + col;
        if (rows == MR && cols == NR) {
          microKernel(kc, packedA, packedB + jp * NR * kc, dst, w.n, accumulate);
          continue;
        }
        alignas(64) float tile[MR * NR];
        microKernel(kc, packedA, packedB + jp * NR * kc, tile, NR, false);
        for (int64_t i = 0; i < rows; i++) {
          for (int64_t j = 0; j < cols; j++) {
            dst[i * w.n + j] = accumulate ? dst[i * w.n + j] + tile[i * NR + j] : tile[i * NR + j];
          }
        }
      }
    }
  }
  if (a.bias == nullptr) return;
  for (int64_t i = 0; i < c.rows; i++) {
    for (int64_t j = col0; j < col0 + width; j++) out[i * w.n + j] += biasAt(a.bias, a.biasType, j);
  }
}

void gemmTasks(void* context, int64_t begin, int64_t end) {
  const GemmContext& c = *static_cast<const GemmContext*>(context);
  for (int64_t task = begin; task < end; task++) gemmTask(c, task);
}

thread_local Workspace packedAWorkspace;

void qgemm(const QuantMatmulArgs& a, const Parallel& parallel, int64_t groupBlocks) {
  const PackedWeight& w = a.w;
  const int64_t kBlocks = (w.k + QKC - 1) / QKC;
  int64_t maxRows = kPackedAFloats / (kBlocks * QKC) / MR * MR;
  if (maxRows < MR) maxRows = MR;
  const int64_t mBlocks = (a.m + maxRows - 1) / maxRows;
  const int64_t blockRows = ((a.m + mBlocks - 1) / mBlocks + MR - 1) / MR * MR;
  const int threads = parallel.threads;
  const int64_t columnPanels = (w.n + NR - 1) / NR;
  int64_t columnBlocks = (w.n + QNC - 1) / QNC;
  if (threads > 1) columnBlocks = (columnBlocks + threads - 1) / threads * threads;
  if (columnBlocks > columnPanels) columnBlocks = columnPanels;
  const int64_t columnWidth = (columnPanels + columnBlocks - 1) / columnBlocks * NR;
  for (int64_t row0 = 0; row0 < a.m; row0 += blockRows) {
    GemmContext c{};
    c.args = &a;
    c.groupBlocks = groupBlocks;
    c.row0 = row0;
    c.rows = a.m - row0 < blockRows ? a.m - row0 : blockRows;
    c.panels = (c.rows + MR - 1) / MR;
    c.kBlocks = kBlocks;
    c.packedA = packedAWorkspace.floats(c.panels * kBlocks * MR * QKC);
    c.columnWidth = columnWidth;
    c.columnBlocks = (w.n + columnWidth - 1) / columnWidth;
    const int64_t slots = c.panels * kBlocks;
    if (threads > 1) {
      parallel.run(parallel.pool, slots, 4, packATasks, &c);
      parallel.run(parallel.pool, c.columnBlocks, 1, gemmTasks, &c);
    } else {
      packATasks(&c, 0, slots);
      gemmTasks(&c, 0, c.columnBlocks);
    }
  }
}

thread_local Workspace permutedWorkspace;

void quantMatmul(const QuantMatmulArgs& a, const Parallel& parallel) {
  const PackedWeight& w = a.w;
  if (a.m <= 0 || w.n <= 0) return;
  // The GEMV gathers x's channels as it copies x; the other paths read a permuted copy.
  if (a.perm != nullptr && (a.int8Activations || a.m > 8)) {
    QuantMatmulArgs permuted = a;
    float* x = permutedWorkspace.floats(a.m * w.k);
    copyRows(a.x, a.perm, a.m, w.k, x);
    permuted.x = x;
    permuted.perm = nullptr;
    return quantMatmul(permuted, parallel);
  }
  if (a.int8Activations) return quantMatmulInt8(a, parallel);
  const int64_t groupBlocks = (w.groupSize >= w.k ? w.k : w.groupSize) / kBlock;
  if (a.m <= 8) qgemv(a, parallel, groupBlocks > 0 ? groupBlocks : 1);
  else qgemm(a, parallel, groupBlocks > 0 ? groupBlocks : 1);
}

// ---- dequantize ----

struct DequantContext {
  const DequantizeArgs* args;
};

constexpr int64_t kDequantColumns = 16;

template <int B>
void dequantColumns(const DequantizeArgs& a, int64_t col0, int64_t col1) {
  const PackedWeight& w = a.w;
  constexpr uint32_t mask = (1u << B) - 1;
  for (int64_t col = col0; col < col1; col++) {
    float* out = a.out + col * w.k;
    const int32_t* column = w.qweight + col;
    for (int64_t p = 0; p < w.k; p++) {
      const int64_t g = a.gIdx != nullptr ? a.gIdx[p] : p / w.groupSize;
      const int64_t bit = static_cast<int64_t>(B) * p;
      const int64_t word = bit >> 5;
      const int shift = static_cast<int>(bit & 31);
      uint32_t q = static_cast<uint32_t>(column[word * w.n]) >> shift;
      if (B == 3 && shift + B > 32) q |= static_cast<uint32_t>(column[(word + 1) * w.n]) << (32 - shift);
      q &= mask;
      out[p] = scaleAt(w, g, col) * static_cast<float>(static_cast<int32_t>(q) - zeroAt(w, g, col));
    }
  }
}

void dequantTasks(void* context, int64_t begin, int64_t end) {
  const DequantizeArgs& a = *static_cast<const DequantContext*>(context)->args;
  const int64_t col0 = begin * kDequantColumns;
  const int64_t col1 = end * kDequantColumns < a.w.n ? end * kDequantColumns : a.w.n;
  switch (a.w.bits) {
    case 2: return dequantColumns<2>(a, col0, col1);
    case 3: return dequantColumns<3>(a, col0, col1);
    case 4: return dequantColumns<4>(a, col0, col1);
    default: return dequantColumns<8>(a, col0, col1);
  }
}

void dequantize(const DequantizeArgs& a, const Parallel& parallel) {
  if (a.w.n <= 0 || a.w.k <= 0) return;
  DequantContext c{&a};
  const int64_t tasks = (a.w.n + kDequantColumns - 1) / kDequantColumns;
  if (parallel.threads > 1) parallel.run(parallel.pool, tasks, 1, dequantTasks, &c);
  else dequantTasks(&c, 0, tasks);
}

}  // namespace

const QuantTable& quantTable() {
  static const QuantTable table = {quantMatmul, dequantize};
  return table;
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
