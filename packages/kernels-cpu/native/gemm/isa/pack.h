// Packing: copies a block of a strided f32/f16/bf16 operand into f32 panels that the
// micro-kernel reads sequentially. A panel is `width` lanes wide (MR rows of A, or NR columns of
// B) and kc deep: element (p, lane) lands at dst[p * width + lane]. Lanes past the operand's
// edge are zero, so the micro-kernel always computes full tiles.
//
// Each operand has a lane axis (rows of A, columns of B) and a depth axis (K). Three layouts:
// lanes contiguous (copy rows of vectors), depth contiguous (transpose kLanes x kLanes blocks in
// registers; this is B = W^T for a weight W [out, in], and a row-major A), or neither (scalar).
#pragma once

#include "gemm/isa/simd.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

/// What to pack: `lanes` valid lanes (<= width) and `depth` steps of K starting at `data`.
struct PackSource {
  const void* data;  // element (lane 0, depth 0)
  int64_t laneStride;
  int64_t depthStride;
  int64_t lanes;
  int64_t depth;
};

template <DType T>
void packGeneric(const PackSource& s, int width, float* dst) {
  const auto* src = typed<T>(s.data);
  for (int64_t p = 0; p < s.depth; p++) {
    float* row = dst + p * width;
    int64_t lane = 0;
    for (; lane < s.lanes; lane++) row[lane] = loadScalar<T>(src + p * s.depthStride + lane * s.laneStride);
    for (; lane < width; lane++) row[lane] = 0.0f;
  }
}

#if defined(__AVX2__)

/// Lanes contiguous: each depth step is a run of `lanes` elements.
template <DType T>
void packLanesContiguous(const PackSource& s, int width, float* dst) {
  const auto* src = typed<T>(s.data);
  for (int64_t p = 0; p < s.depth; p++) {
    const auto* in = src + p * s.depthStride;
    float* row = dst + p * width;
    for (int lane = 0; lane < width; lane += kLanes) {
      const int64_t valid = s.lanes - lane;
      const Vec v = valid >= kLanes ? loadVec<T>(in + lane)
                    : valid > 0     ? loadVecPartial<T>(in + lane, valid)
                                    : Vec{};
      storePartial(row + lane, v, width - lane < kLanes ? width - lane : kLanes);
    }
  }
}

/// Depth contiguous: loads kLanes lanes x kLanes depth steps, transposes, stores kLanes rows.
template <DType T>
void packDepthContiguous(const PackSource& s, int width, float* dst) {
  const auto* src = typed<T>(s.data);
  for (int group = 0; group < width; group += kLanes) {
    const int64_t lanes = s.lanes - group < kLanes ? (s.lanes - group > 0 ? s.lanes - group : 0) : kLanes;
    const int64_t storeWidth = width - group < kLanes ? width - group : kLanes;
    for (int64_t p = 0; p < s.depth; p += kLanes) {
      const int64_t steps = s.depth - p < kLanes ? s.depth - p : kLanes;
      Vec block[kLanes];
      for (int i = 0; i < kLanes; i++) {
        const auto* in = src + (group + i) * s.laneStride + p;
        block[i] = i >= lanes ? Vec{} : steps == kLanes ? loadVec<T>(in) : loadVecPartial<T>(in, steps);
      }
      transpose(block);
      for (int64_t i = 0; i < steps; i++) storePartial(dst + (p + i) * width + group, block[i], storeWidth);
    }
  }
}

#endif

/// Packs `s` into one panel of `width` lanes.
template <DType T>
void packPanel(const PackSource& s, int width, float* dst) {
#if defined(__AVX2__)
  if (s.laneStride == 1) return packLanesContiguous<T>(s, width, dst);
  if (s.depthStride == 1) return packDepthContiguous<T>(s, width, dst);
#endif
  packGeneric<T>(s, width, dst);
}

inline void packPanel(DType type, const PackSource& s, int width, float* dst) {
  switch (type) {
    case DType::f16: return packPanel<DType::f16>(s, width, dst);
    case DType::bf16: return packPanel<DType::bf16>(s, width, dst);
    default: return packPanel<DType::f32>(s, width, dst);
  }
}

}  // namespace
}  // namespace SLIMLM_ISA
}  // namespace slimlm
