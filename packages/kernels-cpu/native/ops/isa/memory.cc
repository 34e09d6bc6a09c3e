// Data movement by element size, for every dtype: copy (any strides on both sides), fill, and
// select (where, maskedFill). Raw elements move, so NaN payloads and half bits stay exact.
#include <cstring>

#include "ops/ops.h"
#include "ops/simd.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

template <typename T>
void copyRow(T* dst, int64_t dstStride, const T* src, int64_t srcStride, int64_t n) {
  if (dstStride == 1 && srcStride == 1) {
    std::memcpy(dst, src, n * sizeof(T));
  } else if (dstStride == 1 && srcStride == 0) {
    const T value = *src;
    for (int64_t i = 0; i < n; i++) dst[i] = value;
  } else if (dstStride == 1) {
    for (int64_t i = 0; i < n; i++) dst[i] = src[i * srcStride];
  } else {
    for (int64_t i = 0; i < n; i++) dst[i * dstStride] = src[i * srcStride];
  }
}

/// A block of a 2-D transpose-like copy (dst walks the inner dim contiguously, src the outer):
/// square tiles keep both sides' cache lines in use.
template <typename T>
void copyTile(T* dst, int64_t dstRowStride, int64_t dstColStride, const T* src, int64_t srcRowStride,
              int64_t srcColStride, int64_t rows, int64_t cols) {
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
    const int64_t r1 = minInt(rows, r0 + kTile);
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t c1 = minInt(cols, c0 + kTile);
      for (int64_t r = r0; r < r1; r++) {
        for (int64_t c = c0; c < c1; c++) {
          dst[r * dstRowStride + c * dstColStride] = src[r * srcRowStride + c * srcColStride];
        }
      }
    }
  }
}

template <typename T>
void copyRows(const CopyArgs& a, int64_t begin, int64_t end) {
  const int32_t outerRank = a.rank - 1;
  const int64_t n = a.shape[a.rank - 1];
  Odometer walk{outerRank, a.shape, {}, {}, {a.dst.strides, a.src.strides}, 2};
  walk.start(begin);
  T* dst = static_cast<T*>(a.dst.data);
  const T* src = static_cast<const T*>(a.src.data);
  for (int64_t row = begin; row < end; row++) {
    copyRow(dst + walk.offset[0], a.dst.strides[a.rank - 1], src + walk.offset[1], a.src.strides[a.rank - 1], n);
    walk.next();
  }
}

/// Transposed copies: tasks are (outer index, band of 32 rows of the last two dims).
template <typename T>
void copyTiles(const CopyArgs& a, int64_t begin, int64_t end) {
  const int32_t outerRank = a.rank - 2;
  const int64_t rows = a.shape[a.rank - 2], cols = a.shape[a.rank - 1];
  const int64_t bands = (rows + 31) / 32;
  T* dst = static_cast<T*>(a.dst.data);
  const T* src = static_cast<const T*>(a.src.data);
  for (int64_t task = begin; task < end; task++) {
    Odometer walk{outerRank, a.shape, {}, {}, {a.dst.strides, a.src.strides}, 2};
    walk.start(task / bands);
    const int64_t r0 = (task % bands) * 32;
    const int64_t dr = a.dst.strides[a.rank - 2], dc = a.dst.strides[a.rank - 1];
    const int64_t sr = a.src.strides[a.rank - 2], sc = a.src.strides[a.rank - 1];
    copyTile(dst + walk.offset[0] + r0 * dr, dr, dc, src + walk.offset[1] + r0 * sr, sr, sc, minInt(32, rows - r0),
             cols);
  }
}

bool transposed(const CopyArgs& a) {
  if (a.rank < 2) return false;
  const int64_t sc = a.src.strides[a.rank - 1], sr = a.src.strides[a.rank - 2];
  const int64_t dc = a.dst.strides[a.rank - 1], dr = a.dst.strides[a.rank - 2];
  const bool srcColumns = (sr == 1 || sr == -1) && sc != 1 && sc != 0;
  const bool dstColumns = (dr == 1 || dr == -1) && dc != 1 && dc != 0;
  return (srcColumns && dc == 1) || (dstColumns && sc == 1);
}

template <typename T>
void copyTyped(const CopyArgs& a, const Parallel& parallel) {
  const int64_t n = a.shape[a.rank - 1];
  if (a.rank == 1 && a.dst.strides[0] == 1 && a.src.strides[0] == 1) {
    // One contiguous block: split into pieces of about a megabyte.
    constexpr int64_t kPiece = (1 << 20) / sizeof(T);
    parallel((n + kPiece - 1) / kPiece, 1, [](void* ctx, int64_t begin, int64_t end) {
      const CopyArgs& c = *static_cast<const CopyArgs*>(ctx);
      const int64_t size = c.shape[0];
      const int64_t from = begin * kPiece, to = minInt(size, end * kPiece);
      const T* src = static_cast<const T*>(c.src.data);
      std::memcpy(static_cast<T*>(c.dst.data) + from, src + from, (to - from) * sizeof(T));
    }, const_cast<CopyArgs*>(&a));
    return;
  }
  if (transposed(a)) {
    const int64_t rows = a.shape[a.rank - 2], cols = a.shape[a.rank - 1];
    const int64_t tasks = product(a.shape, a.rank - 2) * ((rows + 31) / 32);
    parallel(tasks, grainFor(32 * cols), [](void* ctx, int64_t begin, int64_t end) {
      copyTiles<T>(*static_cast<const CopyArgs*>(ctx), begin, end);
    }, const_cast<CopyArgs*>(&a));
    return;
  }
  parallel(product(a.shape, a.rank - 1), grainFor(n), [](void* ctx, int64_t begin, int64_t end) {
    copyRows<T>(*static_cast<const CopyArgs*>(ctx), begin, end);
  }, const_cast<CopyArgs*>(&a));
}

template <typename T>
void fillTyped(const FillArgs& a, const Parallel& parallel) {
  constexpr int64_t kPiece = (1 << 20) / sizeof(T);
  parallel((a.count + kPiece - 1) / kPiece, 1, [](void* ctx, int64_t begin, int64_t end) {
    const FillArgs& f = *static_cast<const FillArgs*>(ctx);
    T value;
    std::memcpy(&value, f.value, sizeof(T));
    T* dst = static_cast<T*>(f.dst);
    const int64_t to = minInt(f.count, end * kPiece);
    for (int64_t i = begin * kPiece; i < to; i++) dst[i] = value;
  }, const_cast<FillArgs*>(&a));
}

template <typename T>
void selectRow(T* out, int64_t so, const uint8_t* cond, int64_t sc, const T* a, int64_t sa, const T* b, int64_t sb,
               int64_t n) {
  if (so == 1 && sc == 1 && sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; i++) out[i] = cond[i] ? a[i] : b[i];
  } else if (so == 1 && sc == 1 && sa == 0 && sb == 1) {
    const T value = *a;
    for (int64_t i = 0; i < n; i++) out[i] = cond[i] ? value : b[i];
  } else if (so == 1 && sc == 1 && sa == 1 && sb == 0) {
    const T value = *b;
    for (int64_t i = 0; i < n; i++) out[i] = cond[i] ? a[i] : value;
  } else {
    for (int64_t i = 0; i < n; i++) out[i * so] = cond[i * sc] ? a[i * sa] : b[i * sb];
  }
}

template <typename T>
void selectTyped(const SelectArgs& s, const Parallel& parallel) {
  const int64_t n = s.shape[s.rank - 1];
  parallel(product(s.shape, s.rank - 1), grainFor(n), [](void* ctx, int64_t begin, int64_t end) {
    const SelectArgs& a = *static_cast<const SelectArgs*>(ctx);
    const int32_t last = a.rank - 1;
    Odometer walk{last, a.shape, {}, {}, {a.out.strides, a.cond.strides, a.a.strides, a.b.strides}, 4};
    walk.start(begin);
    for (int64_t row = begin; row < end; row++) {
      selectRow(static_cast<T*>(a.out.data) + walk.offset[0], a.out.strides[last],
                static_cast<const uint8_t*>(a.cond.data) + walk.offset[1], a.cond.strides[last],
                static_cast<const T*>(a.a.data) + walk.offset[2], a.a.strides[last],
                static_cast<const T*>(a.b.data) + walk.offset[3], a.b.strides[last], a.shape[last]);
      walk.next();
    }
  }, const_cast<SelectArgs*>(&s));
}

}  // namespace

void copy(const CopyArgs& args, const Parallel& parallel) {
  switch (args.elementBytes) {
    case 1: return copyTyped<uint8_t>(args, parallel);
    case 2: return copyTyped<uint16_t>(args, parallel);
    case 4: return copyTyped<uint32_t>(args, parallel);
    default: return copyTyped<uint64_t>(args, parallel);
  }
}

void fill(const FillArgs& args, const Parallel& parallel) {
  switch (args.elementBytes) {
    case 1: return fillTyped<uint8_t>(args, parallel);
    case 2: return fillTyped<uint16_t>(args, parallel);
    case 4: return fillTyped<uint32_t>(args, parallel);
    default: return fillTyped<uint64_t>(args, parallel);
  }
}

void select(const SelectArgs& args, const Parallel& parallel) {
  switch (args.elementBytes) {
    case 1: return selectTyped<uint8_t>(args, parallel);
    case 2: return selectTyped<uint16_t>(args, parallel);
    case 4: return selectTyped<uint32_t>(args, parallel);
    default: return selectTyped<uint64_t>(args, parallel);
  }
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
