// gather (any dtype, by element size) and scatterAdd (f32).
#include <cstring>

#include "ops/ops.h"
#include "ops/simd.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

/// Copies one inner block (the dims after the gathered axis) to contiguous out.
template <typename T>
void copyBlock(const GatherArgs& g, const T* src, T* dst, int64_t size) {
  if (g.innerRank == 1 && g.innerStrides[0] == 1) {
    std::memcpy(dst, src, size * sizeof(T));
    return;
  }
  Odometer walk{g.innerRank, g.innerShape, {}, {}, {g.innerStrides}, 1};
  walk.start(0);
  for (int64_t i = 0; i < size; i++) {
    dst[i] = src[walk.offset[0]];
    walk.next();
  }
}

/// Tasks are (outer index, picked index).
template <typename T>
void gatherTasks(void* ctx, int64_t begin, int64_t end) {
  const GatherArgs& g = *static_cast<const GatherArgs*>(ctx);
  const int64_t size = product(g.innerShape, g.innerRank);
  Odometer outer{g.outerRank, g.outerShape, {}, {}, {g.outerStrides}, 1};
  int64_t o = begin / g.count;
  outer.start(o);
  for (int64_t task = begin; task < end; task++) {
    if (task / g.count != o) {
      o++;
      outer.next();
    }
    const int64_t k = task % g.count;
    const T* src = static_cast<const T*>(g.x) + outer.offset[0] + g.indices[k] * g.axisStride;
    copyBlock(g, src, static_cast<T*>(g.out) + task * size, size);
  }
}

/// Gather along the last axis (one element per pick): tasks are outer rows, each picking its
/// `count` elements in one loop. The general path's per-element odometer and block copy cost
/// ~25 ns an element here, which made act-order layers (x's channels permuted per call) slow.
template <typename T>
void gatherRowsTasks(void* ctx, int64_t begin, int64_t end) {
  const GatherArgs& g = *static_cast<const GatherArgs*>(ctx);
  Odometer outer{g.outerRank, g.outerShape, {}, {}, {g.outerStrides}, 1};
  outer.start(begin);
  for (int64_t row = begin; row < end; row++) {
    const T* src = static_cast<const T*>(g.x) + outer.offset[0];
    T* dst = static_cast<T*>(g.out) + row * g.count;
    for (int64_t k = 0; k < g.count; k++) dst[k] = src[g.indices[k] * g.axisStride];
    outer.next();
  }
}

constexpr int64_t kScatterBlock = 256;

/// Tasks are (outer index, block of inner columns): each owns its output columns, so repeated
/// indices accumulate without races.
void scatterAddTasks(void* ctx, int64_t begin, int64_t end) {
  const ScatterAddArgs& s = *static_cast<const ScatterAddArgs*>(ctx);
  const int64_t blocks = (s.inner + kScatterBlock - 1) / kScatterBlock;
  for (int64_t task = begin; task < end; task++) {
    const int64_t o = task / blocks, first = (task % blocks) * kScatterBlock;
    const int64_t n = minInt(kScatterBlock, s.inner - first);
    for (int64_t k = 0; k < s.count; k++) {
      float* dst = s.out + (o * s.dim + s.indices[k]) * s.inner + first;
      const float* src = s.updates + (o * s.count + k) * s.inner + first;
      binaryLoop(n, dst, src, dst, [](vf a, vf b) { return vadd(a, b); });
    }
  }
}

}  // namespace

void gather(const GatherArgs& args, const Parallel& parallel) {
  void* ctx = const_cast<GatherArgs*>(&args);
  if (product(args.innerShape, args.innerRank) == 1) {
    const int64_t rows = product(args.outerShape, args.outerRank);
    const int64_t grain = grainFor(args.count);
    switch (args.elementBytes) {
      case 1: return parallel(rows, grain, gatherRowsTasks<uint8_t>, ctx);
      case 2: return parallel(rows, grain, gatherRowsTasks<uint16_t>, ctx);
      case 4: return parallel(rows, grain, gatherRowsTasks<uint32_t>, ctx);
      default: return parallel(rows, grain, gatherRowsTasks<uint64_t>, ctx);
    }
  }
  const int64_t tasks = product(args.outerShape, args.outerRank) * args.count;
  const int64_t grain = grainFor(product(args.innerShape, args.innerRank));
  switch (args.elementBytes) {
    case 1: return parallel(tasks, grain, gatherTasks<uint8_t>, ctx);
    case 2: return parallel(tasks, grain, gatherTasks<uint16_t>, ctx);
    case 4: return parallel(tasks, grain, gatherTasks<uint32_t>, ctx);
    default: return parallel(tasks, grain, gatherTasks<uint64_t>, ctx);
  }
}

void scatterAdd(const ScatterAddArgs& args, const Parallel& parallel) {
  const int64_t blocks = (args.inner + kScatterBlock - 1) / kScatterBlock;
  parallel(args.outer * blocks, grainFor(minInt(args.inner, kScatterBlock) * args.count), scatterAddTasks,
           const_cast<ScatterAddArgs*>(&args));
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
