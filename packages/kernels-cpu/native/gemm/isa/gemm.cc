// GEMM over strided f32/f16/bf16 operands: packed panels, cache blocking and a register-tiled
// micro-kernel (microkernel.h), after the BLIS loop structure. For one M block of one batch:
//
//   tasks (split over N, and over M when N is narrow) run on the thread pool; each task:
//     for each K block (KC deep):
//       pack its B block (KC x its columns, <= NC wide) into a thread-local buffer     -> L2
//       for each MR-row panel of A (packed once, by whichever task needs it first)    -> L1
//         for each NR-column panel of the B block: micro-kernel on an MR x NR tile of C
//
// A's panels are shared: a task that finds one unpacked packs it and flags it ready; one that
// finds it being packed waits. f16/bf16 operands are widened while packing, so only blocks, never
// whole matrices, exist in f32. Products with few rows of A (GEMV, skinny GEMM) go to gemv.cc.
#include "gemm/isa/gemv.h"
#include "gemm/isa/microkernel.h"
#include "gemm/isa/pack.h"

#include <cstring>

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

// Measured on Zen (32-48 KiB L1d, 1 MiB L2 per core); neighbouring sizes are within noise.
constexpr int64_t KC = 512;  // K block: an A panel (MR x KC, 24 KiB with AVX-512) stays in L1
constexpr int64_t NC = 384;  // widest B block a task packs (KC x NC, 768 KiB): stays in L2
constexpr int64_t kPackedAFloats = int64_t{1} << 21;  // packed A per M block (8 MiB)
constexpr int64_t kMaxBlockRows = 128 * MR;
// Batches no bigger than this (m * n * k) run one per task instead of splitting each.
constexpr int64_t kSmallBatchMacs = int64_t{1} << 22;

enum PanelState : int32_t { kUnpacked = 0, kPacking = 1, kPacked = 2 };

thread_local Workspace packedAWorkspace;  // the M block's packed A, owned by the thread that runs the block
thread_local Workspace stateWorkspace;
thread_local Workspace packedBWorkspace;  // each task's B block
thread_local Workspace tileWorkspace;     // f32 accumulators for f16/bf16 C

int elementBytes(DType type) { return type == DType::f32 ? 4 : 2; }

const void* elementAt(const void* base, DType type, int64_t index) {
  return static_cast<const char*>(base) + index * elementBytes(type);
}

/// One M block of one batch, split into tasks of (row chunk, column block).
struct Block {
  const GemmArgs* g;
  const void* a;  // first element of the block's rows
  const void* b;  // first element of this batch's B
  int64_t cIndex;  // first element of the block's rows in C
  int64_t rows;
  int64_t kBlocks;
  int64_t panels;  // MR-row panels of A
  float* packedA;  // panels x kBlocks slots of MR * KC floats
  int32_t* state;  // one PanelState per slot
  int64_t columnWidth, columnBlocks;
  int64_t chunkPanels, rowChunks;
};

/// The packed A panel (panel, kBlock), packing it first if no task has.
const float* panelOfA(const Block& block, int64_t panel, int64_t kBlock) {
  const int64_t slot = panel * block.kBlocks + kBlock;
  float* packed = block.packedA + slot * MR * KC;
  int32_t* state = block.state + slot;
  if (__atomic_load_n(state, __ATOMIC_ACQUIRE) == kPacked) return packed;
  int32_t expected = kUnpacked;
  if (__atomic_compare_exchange_n(state, &expected, kPacking, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    const Matrix& a = block.g->a;
    const int64_t row = panel * MR;
    const int64_t depth = block.g->k - kBlock * KC;
    const PackSource source{
        elementAt(block.a, a.dtype, row * a.rowStride + kBlock * KC * a.colStride),
        a.rowStride,
        a.colStride,
        block.rows - row < MR ? block.rows - row : MR,
        depth < KC ? depth : KC,
    };
    packPanel(a.dtype, source, MR, packed);
    __atomic_store_n(state, kPacked, __ATOMIC_RELEASE);
  } else {
    while (__atomic_load_n(state, __ATOMIC_ACQUIRE) != kPacked) __builtin_ia32_pause();
  }
  return packed;
}

void runTask(const Block& block, int64_t task) {
  const GemmArgs& g = *block.g;
  const int64_t firstPanel = task / block.columnBlocks * block.chunkPanels;
  const int64_t endPanel =
      firstPanel + block.chunkPanels < block.panels ? firstPanel + block.chunkPanels : block.panels;
  const int64_t col0 = task % block.columnBlocks * block.columnWidth;
  const int64_t width = col0 + block.columnWidth < g.n ? block.columnWidth : g.n - col0;
  if (firstPanel >= endPanel || width <= 0) return;
  const int64_t bPanels = (width + NR - 1) / NR;
  float* packedB = packedBWorkspace.floats(bPanels * NR * KC);
  // f16/bf16 C accumulates in f32 over the K blocks and is rounded once at the end.
  const bool direct = g.cType == DType::f32;
  const int64_t tileStride = bPanels * NR;
  float* tiles = direct ? nullptr : tileWorkspace.floats((endPanel - firstPanel) * MR * tileStride);
  float* c = static_cast<float*>(g.c) + block.cIndex;
  const Matrix& b = g.b;
  for (int64_t kBlock = 0; kBlock < block.kBlocks; kBlock++) {
    const int64_t p0 = kBlock * KC;
    const int64_t kc = g.k - p0 < KC ? g.k - p0 : KC;
    for (int64_t jp = 0; jp < bPanels; jp++) {
      const int64_t col = col0 + jp * NR;
      const PackSource source{
          elementAt(block.b, b.dtype, p0 * b.rowStride + col * b.colStride),
          b.colStride,
          b.rowStride,
          g.n - col < NR ? g.n - col : NR,
          kc,
      };
      packPanel(b.dtype, source, NR, packedB + jp * NR * kc);
    }
    const bool accumulate = kBlock > 0;
    // Tasks start at different panels of A, so that they share the packing of A instead of all
    // waiting on the one task that got to each panel first.
    const int64_t panels = endPanel - firstPanel;
    const int64_t start = task % block.columnBlocks * panels / block.columnBlocks;
    for (int64_t step = 0; step < panels; step++) {
      const int64_t panel = firstPanel + (start + step) % panels;
      const float* packedA = panelOfA(block, panel, kBlock);
      const int64_t row = panel * MR;
      const int64_t rows = block.rows - row < MR ? block.rows - row : MR;
      for (int64_t jp = 0; jp < bPanels; jp++) {
        const float* panelB = packedB + jp * NR * kc;
        if (!direct) {
          float* tile = tiles + (panel - firstPanel) * MR * tileStride + jp * NR;
          microKernel(kc, packedA, panelB, tile, tileStride, accumulate);
          continue;
        }
        const int64_t col = col0 + jp * NR;
        const int64_t cols = g.n - col < NR ? g.n - col : NR;
        float* out = c + row * g.n + col;
        if (rows == MR && cols == NR) {
          microKernel(kc, packedA, panelB, out, g.n, accumulate);
          continue;
        }
        alignas(64) float tile[MR * NR];
        microKernel(kc, packedA, panelB, tile, NR, false);
        for (int64_t i = 0; i < rows; i++) {
          for (int64_t j = 0; j < cols; j++) {
            out[i * g.n + j] = accumulate ? out[i * g.n + j] + tile[i * NR + j] : tile[i * NR + j];
          }
        }
      }
    }
  }
  if (direct) return;
  const int64_t rowEnd = endPanel * MR < block.rows ? endPanel * MR : block.rows;
  for (int64_t row = firstPanel * MR; row < rowEnd; row++) {
    storeRow(g.c, g.cType, block.cIndex + row * g.n + col0, tiles + (row - firstPanel * MR) * tileStride, width);
  }
}

void runTasks(void* context, int64_t begin, int64_t end) {
  const Block& block = *static_cast<const Block*>(context);
  for (int64_t task = begin; task < end; task++) runTask(block, task);
}

/// Computes one batch, split over `threads` tasks' worth of the pool when threads > 1.
void gemmBatch(const GemmArgs& g, int64_t batch, const Parallel& parallel, int threads) {
  const int64_t kBlocks = (g.k + KC - 1) / KC;
  int64_t maxRows = kPackedAFloats / (kBlocks * KC) / MR * MR;
  if (maxRows < MR) maxRows = MR;
  if (maxRows > kMaxBlockRows) maxRows = kMaxBlockRows;
  // M blocks of even size: a small last block would repack all of B for little work.
  const int64_t mBlocks = (g.m + maxRows - 1) / maxRows;
  const int64_t blockRows = ((g.m + mBlocks - 1) / mBlocks + MR - 1) / MR * MR;
  const int64_t columnPanels = (g.n + NR - 1) / NR;
  for (int64_t row0 = 0; row0 < g.m; row0 += blockRows) {
    Block block{};
    block.g = &g;
    block.a = elementAt(g.a.data, g.a.dtype, batch * g.a.batchStride + row0 * g.a.rowStride);
    block.b = elementAt(g.b.data, g.b.dtype, batch * g.b.batchStride);
    block.cIndex = batch * g.cBatchStride + row0 * g.n;
    block.rows = g.m - row0 < blockRows ? g.m - row0 : blockRows;
    block.kBlocks = kBlocks;
    block.panels = (block.rows + MR - 1) / MR;
    const int64_t slots = block.panels * kBlocks;
    block.packedA = packedAWorkspace.floats(slots * MR * KC);
    block.state = reinterpret_cast<int32_t*>(stateWorkspace.floats(slots));
    std::memset(block.state, 0, slots * sizeof(int32_t));
    // Column blocks no wider than NC, as many as a multiple of the threads so they share evenly;
    // when N is too narrow for that, the rows are split as well.
    int64_t columnBlocks = (g.n + NC - 1) / NC;
    if (threads > 1) columnBlocks = (columnBlocks + threads - 1) / threads * threads;
    if (columnBlocks > columnPanels) columnBlocks = columnPanels;
    block.columnWidth = (columnPanels + columnBlocks - 1) / columnBlocks * NR;
    block.columnBlocks = (g.n + block.columnWidth - 1) / block.columnWidth;
    block.rowChunks = 1;
    if (block.columnBlocks < threads) {
      block.rowChunks = (2 * threads + block.columnBlocks - 1) / block.columnBlocks;
      if (block.rowChunks > block.panels) block.rowChunks = block.panels;
    }
    block.chunkPanels = (block.panels + block.rowChunks - 1) / block.rowChunks;
    const int64_t tasks = block.rowChunks * block.columnBlocks;
    if (threads > 1) parallel.run(parallel.pool, tasks, 1, runTasks, &block);
    else runTasks(&block, 0, tasks);
  }
}

struct Batches {
  const GemmArgs* g;
  const Parallel* parallel;
};

void runBatches(void* context, int64_t begin, int64_t end) {
  const Batches& batches = *static_cast<const Batches*>(context);
  for (int64_t batch = begin; batch < end; batch++) gemmBatch(*batches.g, batch, *batches.parallel, 1);
}

}  // namespace

void gemm(const GemmArgs& g, const Parallel& parallel) {
  if (g.batch <= 0 || g.m <= 0 || g.n <= 0) return;
  if (g.k <= 0) {
    for (int64_t batch = 0; batch < g.batch; batch++) {
      char* c = static_cast<char*>(g.c) + batch * g.cBatchStride * elementBytes(g.cType);
      std::memset(c, 0, g.m * g.n * elementBytes(g.cType));
    }
    return;
  }
  if (gemv(g, parallel)) return;
  const int threads = parallel.threads;
  if (threads > 1 && g.batch > 1 && g.m * g.n * g.k <= kSmallBatchMacs) {
    Batches batches{&g, &parallel};
    parallel.run(parallel.pool, g.batch, 1, runBatches, &batches);
    return;
  }
  for (int64_t batch = 0; batch < g.batch; batch++) gemmBatch(g, batch, parallel, threads);
}

const GemmTable& gemmTable() {
  static const GemmTable table = {gemm};
  return table;
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
