// Reading GPTQ-packed weights, for one ISA (included by quant.cc and int8.cc, each compiled per
// ISA): scalar access to one code, zero point, scale or bias, and vector extraction of the codes
// of a block of 32 input channels for kLanes consecutive output channels.
#pragma once

#include <cmath>
#include <cstring>

#include "gemm/isa/simd.h"
#include "quant/quant.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

constexpr int64_t kBlock = 32;  // input channels per packed block

/// The factor qgemv scales x by for code j of a block (scaledCodeOf gives q * 2^shift): 2^-shift
/// for a field read in place, 1 for one shifted down.
inline float xScale(int bits, int j) {
  const int s = (bits * j) & 31;
  if (s + bits > 32) return 1.0f;
#if defined(__AVX2__) && !defined(__AVX512F__)
  if (s + bits == 32) return 1.0f;
#endif
  return 1.0f / static_cast<float>(1u << s);
}

// ---- scalar access (edges, the scalar ISA, dequantize) ----

/// `bits` bits of a word stream (words `stride` apart) starting at bit `bit`.
inline uint32_t field(const int32_t* data, int64_t stride, int64_t bit, int bits) {
  const int64_t word = bit >> 5;
  const int shift = static_cast<int>(bit & 31);
  uint32_t value = static_cast<uint32_t>(data[word * stride]) >> shift;
  if (shift + bits > 32) value |= static_cast<uint32_t>(data[(word + 1) * stride]) << (32 - shift);
  return value & ((1u << bits) - 1);
}

inline int32_t codeAt(const PackedWeight& w, int64_t k, int64_t col) {
  return static_cast<int32_t>(field(w.qweight + col, w.n, w.bits * k, w.bits));
}

inline int32_t zeroAt(const PackedWeight& w, int64_t g, int64_t col) {
  const int64_t words = w.n * w.bits / 32;
  const uint32_t stored = field(w.qzeros + g * words, 1, w.bits * col, w.bits);
  return static_cast<int32_t>((stored + w.zeroOffset) & ((1u << w.bits) - 1));
}

inline float scaleAt(const PackedWeight& w, int64_t g, int64_t col) {
  const int64_t i = g * w.n + col;
  switch (w.scaleType) {
    case DType::f16: return f16ToF32(static_cast<const uint16_t*>(w.scales)[i]);
    case DType::bf16: return bf16ToF32(static_cast<const uint16_t*>(w.scales)[i]);
    default: return static_cast<const float*>(w.scales)[i];
  }
}

inline float biasAt(const void* bias, DType type, int64_t col) {
  if (bias == nullptr) return 0.0f;
  switch (type) {
    case DType::f16: return f16ToF32(static_cast<const uint16_t*>(bias)[col]);
    case DType::bf16: return bf16ToF32(static_cast<const uint16_t*>(bias)[col]);
    default: return static_cast<const float*>(bias)[col];
  }
}

// ---- vector code extraction ----

#if defined(__AVX2__)
#if defined(__AVX512F__)
using VecI = __m512i;
inline VecI loadI(const int32_t* p) { return _mm512_loadu_si512(p); }
inline VecI andI(VecI a, VecI b) { return _mm512_and_si512(a, b); }
inline VecI orI(VecI a, VecI b) { return _mm512_or_si512(a, b); }
inline VecI setI(int32_t v) { return _mm512_set1_epi32(v); }
template <int S> inline VecI srlI(VecI v) { return _mm512_srli_epi32(v, S); }
template <int S> inline VecI sllI(VecI v) { return _mm512_slli_epi32(v, S); }
inline Vec toFloat(VecI v) { return _mm512_cvtepi32_ps(v); }
inline Vec setF(float v) { return _mm512_set1_ps(v); }
inline Vec mulF(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
inline Vec subF(Vec a, Vec b) { return _mm512_sub_ps(a, b); }
inline Vec fnma(Vec a, Vec b, Vec c) { return _mm512_fnmadd_ps(a, b, c); }
inline void storeAlignedF(float* p, Vec v) { _mm512_store_ps(p, v); }
#else
using VecI = __m256i;
inline VecI loadI(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline VecI andI(VecI a, VecI b) { return _mm256_and_si256(a, b); }
inline VecI orI(VecI a, VecI b) { return _mm256_or_si256(a, b); }
inline VecI setI(int32_t v) { return _mm256_set1_epi32(v); }
template <int S> inline VecI srlI(VecI v) { return _mm256_srli_epi32(v, S); }
template <int S> inline VecI sllI(VecI v) { return _mm256_slli_epi32(v, S); }
inline Vec toFloat(VecI v) { return _mm256_cvtepi32_ps(v); }
inline Vec setF(float v) { return _mm256_set1_ps(v); }
inline Vec mulF(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
inline Vec subF(Vec a, Vec b) { return _mm256_sub_ps(a, b); }
inline Vec fnma(Vec a, Vec b, Vec c) { return _mm256_fnmadd_ps(a, b, c); }
inline void storeAlignedF(float* p, Vec v) { _mm256_store_ps(p, v); }
#endif

/// Code J (0..31) of a block, for kLanes columns, from the block's B word vectors.
template <int B, int J>
inline VecI codeOf(const VecI* w, VecI mask) {
  constexpr int bit = B * J;
  constexpr int t = bit >> 5;
  constexpr int s = bit & 31;
  VecI v = s == 0 ? w[t] : srlI<s>(w[t]);
  if constexpr (s + B > 32) v = orI(v, sllI<(32 - s) & 31>(w[t + 1]));
  if constexpr (s + B == 32) return v;
  return andI(v, mask);
}

/// Code J of a block times 2^s (s its bit offset in its word), for kLanes columns: the field masked in place and
/// converted (one op fewer than shift, mask, convert), or the plain code where a field straddles
/// two words (and, on AVX2, which has no unsigned convert, for a field in the top bits).
template <int B, int J>
inline Vec scaledCodeOf(const VecI* w) {
  constexpr int bit = B * J;
  constexpr int t = bit >> 5;
  constexpr int s = bit & 31;
  constexpr uint32_t field = ((1u << B) - 1) << s;
  if constexpr (s + B > 32) {
    return toFloat(codeOf<B, J>(w, setI((1 << B) - 1)));
  } else if constexpr (s + B == 32) {
#if defined(__AVX512F__)
    return _mm512_cvtepu32_ps(andI(w[t], setI(static_cast<int32_t>(field))));
#else
    return toFloat(srlI<s>(w[t]));
#endif
  } else {
    return toFloat(andI(w[t], setI(static_cast<int32_t>(field))));
  }
}

/// acc[v][i][J % A] += x[i * ldx + J] * q_J * 2^shift for every code J of the block, every vector v
/// < V and row i < M, with x pre-scaled by 2^-shift (see xScale): the sum of x * q, exactly as with
/// unscaled codes. Codes go round A accumulators and the vectors are interleaved code by code, so
/// that V * M * A independent FMA chains hide the FMA latency (one chain per vector, as before,
/// left the FMA port idle most of the time).
template <int B, int M, int V, int A, int J>
inline void accumulateCodes(const VecI (*w)[B], const float* x, int64_t ldx, Vec (*acc)[M][A]) {
  if constexpr (J < 32) {
    for (int v = 0; v < V; v++) {
      const Vec q = scaledCodeOf<B, J>(w[v]);
      for (int i = 0; i < M; i++) acc[v][i][J % A] = fma(setF(x[i * ldx + J]), q, acc[v][i][J % A]);
    }
    accumulateCodes<B, M, V, A, J + 1>(w, x, ldx, acc);
  }
}

/// dst[J * ld] = s * (q_J - z) for every code J of the block.
template <int B, int J>
inline void dequantCodes(const VecI* w, VecI mask, Vec s, Vec z, float* dst, int64_t ld) {
  if constexpr (J < 32) {
    storeAlignedF(dst + J * ld, mulF(s, subF(toFloat(codeOf<B, J>(w, mask)), z)));
    dequantCodes<B, J + 1>(w, mask, s, z, dst, ld);
  }
}

inline Vec loadScales(const PackedWeight& w, int64_t g, int64_t col) {
  const int64_t i = g * w.n + col;
  switch (w.scaleType) {
    case DType::f16: return loadVec<DType::f16>(static_cast<const uint16_t*>(w.scales) + i);
    case DType::bf16: return loadVec<DType::bf16>(static_cast<const uint16_t*>(w.scales) + i);
    default: return loadVec<DType::f32>(static_cast<const float*>(w.scales) + i);
  }
}

/// The zero points of columns [col, col + kLanes) of group g as floats, all lanes at once: the
/// qzeros words that hold them (a masked load, never past the row) spread one per lane by a
/// permute, shifted into place (a field may straddle two words) and masked.
template <int B>
inline Vec loadZerosVec(const PackedWeight& w, int64_t g, int64_t col) {
  const int64_t rowWords = w.n * B / 32;
  const int64_t bit0 = col * B;
  const int64_t word0 = bit0 >> 5;
  const int64_t avail = rowWords - word0;
  const int count = static_cast<int>(avail < kLanes ? avail : kLanes);
  const int32_t* src = w.qzeros + g * rowWords + word0;
  const int32_t sh0 = static_cast<int32_t>(bit0 & 31);
#if defined(__AVX512F__)
  const VecI words = _mm512_maskz_loadu_epi32(static_cast<__mmask16>((1u << count) - 1), src);
  const VecI bits = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), setI(B)), setI(sh0));
  const VecI index = _mm512_srli_epi32(bits, 5);
  const VecI shift = andI(bits, setI(31));
  const VecI lo = _mm512_srlv_epi32(_mm512_permutexvar_epi32(index, words), shift);
  const VecI hi = _mm512_sllv_epi32(_mm512_permutexvar_epi32(_mm512_add_epi32(index, setI(1)), words), _mm512_sub_epi32(setI(32), shift));
  const VecI code = _mm512_add_epi32(andI(orI(lo, hi), setI((1 << B) - 1)), setI(w.zeroOffset));
#else
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i loadMask = _mm256_cmpgt_epi32(setI(count), lanes);
  const VecI words = _mm256_maskload_epi32(src, loadMask);
  const VecI bits = _mm256_add_epi32(_mm256_mullo_epi32(lanes, setI(B)), setI(sh0));
  const VecI index = _mm256_srli_epi32(bits, 5);
  const VecI shift = andI(bits, setI(31));
  const VecI lo = _mm256_srlv_epi32(_mm256_permutevar8x32_epi32(words, index), shift);
  const VecI hi = _mm256_sllv_epi32(_mm256_permutevar8x32_epi32(words, _mm256_add_epi32(index, setI(1))), _mm256_sub_epi32(setI(32), shift));
  const VecI code = _mm256_add_epi32(andI(orI(lo, hi), setI((1 << B) - 1)), setI(w.zeroOffset));
#endif
  return toFloat(andI(code, setI((1 << B) - 1)));
}
#endif

}  // namespace

/// quantMatmul with int8 activations (int8.cc).
void quantMatmulInt8(const QuantMatmulArgs& args, const Parallel& parallel);

/// The f32 qgemv (m <= 2, perm applied) on AVX512-VNNI, x split into three int8 pieces (int8.cc,
/// splitRow); false, having done nothing, where it does not apply (no VNNI, 3 bits, more rows, a
/// shape it does not take, x with an infinity or a NaN).
bool qgemvExact(const QuantMatmulArgs& args, const Parallel& parallel);

}  // namespace SLIMLM_ISA
}  // namespace slimlm
