// One ISA's vector type for the GEMM family, and loads that widen f16/bf16 to f32 in registers.
// Included only by files under gemm/isa/, so everything here is compiled once per ISA; it lives in
// an anonymous namespace to keep every copy internal (see slimlm/common.h).
#pragma once

#if defined(__AVX2__)
// GCC 12 reports its own AVX-512 intrinsics (the _mm512_undefined_* they start from) as
// uninitialized once inlined (GCC bug 105593, fixed in 13): silenced for the header's lines only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
#include <cstdlib>

#include "gemm/gemm.h"
#include "slimlm/half.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

/// The element type of each DType's storage.
template <DType T> struct Storage { using type = float; };
template <> struct Storage<DType::f16> { using type = uint16_t; };
template <> struct Storage<DType::bf16> { using type = uint16_t; };

template <DType T>
inline const typename Storage<T>::type* typed(const void* data) {
  return static_cast<const typename Storage<T>::type*>(data);
}

template <DType T>
inline float loadScalar(const typename Storage<T>::type* p) {
  if constexpr (T == DType::f16) return f16ToF32(*p);
  else if constexpr (T == DType::bf16) return bf16ToF32(*p);
  else return *p;
}

inline void storeScalar(void* c, DType type, int64_t index, float value) {
  switch (type) {
    case DType::f16: static_cast<uint16_t*>(c)[index] = f32ToF16(value); break;
    case DType::bf16: static_cast<uint16_t*>(c)[index] = f32ToBf16(value); break;
    default: static_cast<float*>(c)[index] = value;
  }
}

/// Writes `count` f32 values to C in its dtype, rounding f16/bf16 like the reference backend.
inline void storeRow(void* c, DType type, int64_t index, const float* values, int64_t count) {
  if (type == DType::f32) {
    float* out = static_cast<float*>(c) + index;
    for (int64_t j = 0; j < count; j++) out[j] = values[j];
    return;
  }
  for (int64_t j = 0; j < count; j++) storeScalar(c, type, index + j, values[j]);
}

/// 64-byte aligned scratch that grows on demand and is freed with its owner (a thread_local):
/// packing buffers are reused across calls instead of page-faulting fresh memory each time. A
/// kernel has no way to report an error, so failing to get a few MiB aborts.
struct Workspace {
  void* data = nullptr;
  size_t bytes = 0;
  ~Workspace() { std::free(data); }
  float* floats(size_t count) {
    const size_t need = (count * sizeof(float) + 63) / 64 * 64;
    if (need > bytes) {
      std::free(data);
      data = std::aligned_alloc(64, need);
      if (data == nullptr) std::abort();
      bytes = need;
    }
    return static_cast<float*>(data);
  }
};

#if defined(__AVX512F__)

constexpr int kLanes = 16;
using Vec = __m512;

inline Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline Vec loadAligned(const float* p) { return _mm512_load_ps(p); }
inline Vec loadUnaligned(const float* p) { return _mm512_loadu_ps(p); }
inline void storeUnaligned(float* p, Vec v) { _mm512_storeu_ps(p, v); }

inline __mmask16 laneMask(int64_t count) { return static_cast<__mmask16>((1u << count) - 1); }

/// Sixteen consecutive elements widened to f32.
template <DType T>
inline Vec loadVec(const typename Storage<T>::type* p) {
  if constexpr (T == DType::f16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  } else if constexpr (T == DType::bf16) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  } else {
    return _mm512_loadu_ps(p);
  }
}

/// The first `count` (< 16) elements widened to f32, zeros after; reads nothing past them.
template <DType T>
inline Vec loadVecPartial(const typename Storage<T>::type* p, int64_t count) {
  const __mmask16 mask = laneMask(count);
  if constexpr (T == DType::f16) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
  } else if constexpr (T == DType::bf16) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  } else {
    return _mm512_maskz_loadu_ps(mask, p);
  }
}

inline void storePartial(float* p, Vec v, int64_t count) {
  if (count == kLanes) _mm512_storeu_ps(p, v);
  else _mm512_mask_storeu_ps(p, laneMask(count), v);
}

inline float reduceAdd(Vec v) { return _mm512_reduce_add_ps(v); }

/// Transposes a 16x16 block held as 16 rows.
inline void transpose(Vec r[16]) {
  Vec t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // r[4i + c] holds, in 128-bit lane l, rows 4i..4i+3 of column 4l + c.
  for (int i = 0; i < 4; i++) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  for (int c = 0; c < 4; c++) {
    const Vec u0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    const Vec u1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
    const Vec v0 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    const Vec v1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
    t[c] = _mm512_shuffle_f32x4(u0, v0, 0x88);
    t[8 + c] = _mm512_shuffle_f32x4(u0, v0, 0xdd);
    t[4 + c] = _mm512_shuffle_f32x4(u1, v1, 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(u1, v1, 0xdd);
  }
  for (int i = 0; i < 16; i++) r[i] = t[i];
}

#elif defined(__AVX2__)

constexpr int kLanes = 8;
using Vec = __m256;

inline Vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline Vec loadAligned(const float* p) { return _mm256_load_ps(p); }
inline Vec loadUnaligned(const float* p) { return _mm256_loadu_ps(p); }
inline void storeUnaligned(float* p, Vec v) { _mm256_storeu_ps(p, v); }

template <DType T>
inline Vec loadVec(const typename Storage<T>::type* p) {
  if constexpr (T == DType::f16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else if constexpr (T == DType::bf16) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  } else {
    return _mm256_loadu_ps(p);
  }
}

/// The first `count` (< 8) elements widened to f32, zeros after. AVX2 has no 16-bit masked
/// load, so the tail goes through a small buffer.
template <DType T>
inline Vec loadVecPartial(const typename Storage<T>::type* p, int64_t count) {
  typename Storage<T>::type tail[kLanes] = {};
  for (int64_t i = 0; i < count; i++) tail[i] = p[i];
  return loadVec<T>(tail);
}

inline void storePartial(float* p, Vec v, int64_t count) {
  if (count == kLanes) {
    _mm256_storeu_ps(p, v);
    return;
  }
  alignas(32) float values[kLanes];
  _mm256_store_ps(values, v);
  for (int64_t i = 0; i < count; i++) p[i] = values[i];
}

inline float reduceAdd(Vec v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

/// Transposes an 8x8 block held as 8 rows.
inline void transpose(Vec r[8]) {
  Vec t[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // s[4h + c] holds, in 128-bit lane l, rows 4h..4h+3 of column 4l + c.
  Vec s[8];
  for (int h = 0; h < 2; h++) {
    s[4 * h] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
    s[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xee);
    s[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
    s[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xee);
  }
  for (int c = 0; c < 4; c++) {
    r[c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x20);
    r[4 + c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x31);
  }
}

#endif

}  // namespace
}  // namespace SLIMLM_ISA
}  // namespace slimlm
