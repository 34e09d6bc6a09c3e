// A small vector layer for the op kernels: one set of names over AVX-512 (16 lanes), AVX2 (8)
// and plain scalars (1), chosen by the flags of the ISA build including it, so that every kernel
// and every approximation below is written once. All of it has internal linkage (an unnamed
// namespace inside the ISA namespace, see slimlm/common.h): each build keeps its own copy.
//
// The math functions are f32 approximations within a few ulp of the exact result over their
// whole domain, with IEEE special values (NaN in gives NaN out, overflow gives Inf, underflow
// gives 0 or a subnormal); test/ops.test.ts and the reference backend hold them to it.
#pragma once

#include <math.h>

#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

// GCC 12 warns about the deliberately undefined registers inside its own AVX-512 intrinsics
// (GCC bug 105593, fixed in 13) wherever they are inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "ops/ops.h"
#include "slimlm/half.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

#if defined(__AVX512F__)

using vf = __m512;
using vi = __m512i;
using vm = __mmask16;
constexpr int kLanes = 16;

static inline vf vset(float x) { return _mm512_set1_ps(x); }
static inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
static inline void vstore(float* p, vf x) { _mm512_storeu_ps(p, x); }
static inline vm firstLanes(int64_t n) { return static_cast<vm>((1u << n) - 1); }
/// The first n (< kLanes) lanes; the others read as 0.
static inline vf vloadPart(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(firstLanes(n), p); }
static inline void vstorePart(float* p, vf x, int64_t n) { _mm512_mask_storeu_ps(p, firstLanes(n), x); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
/// a * b + c.
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vsqrt(vf a) { return _mm512_sqrt_ps(a); }
/// The hardware max/min: b when either is NaN or both are zeros (callers handle those cases).
static inline vf vmaxRaw(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vminRaw(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vi vbits(vf a) { return _mm512_castps_si512(a); }
static inline vf vfrombits(vi a) { return _mm512_castsi512_ps(a); }
static inline vf vand(vf a, vf b) { return vfrombits(_mm512_and_si512(vbits(a), vbits(b))); }
static inline vf vor(vf a, vf b) { return vfrombits(_mm512_or_si512(vbits(a), vbits(b))); }
static inline vf vxor(vf a, vf b) { return vfrombits(_mm512_xor_si512(vbits(a), vbits(b))); }
static inline vm veq(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
static inline vm vne(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ); }
static inline vm vlt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline vm vle(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
static inline vm vgt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline vm vge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
static inline vm visnan(vf a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
static inline vm mand(vm a, vm b) { return a & b; }
static inline vm mor(vm a, vm b) { return a | b; }
static inline vm mnone() { return 0; }
static inline bool many(vm m) { return m != 0; }
/// m ? a : b, lane by lane.
static inline vf vselect(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }
static inline vf vround(vf x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vi vtoint(vf x) { return _mm512_cvtps_epi32(x); }
static inline vf vtofloat(vi x) { return _mm512_cvtepi32_ps(x); }
static inline vi viadd(vi a, vi b) { return _mm512_add_epi32(a, b); }
static inline vi visub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
static inline vi viset(int32_t x) { return _mm512_set1_epi32(x); }
static inline vi vshiftRight(vi a, int n) { return _mm512_srai_epi32(a, n); }
static inline vi vshiftLeft(vi a, int n) { return _mm512_slli_epi32(a, n); }
static inline vi viand(vi a, vi b) { return _mm512_and_si512(a, b); }
static inline float vsum(vf x) { return _mm512_reduce_add_ps(x); }
static inline float vmaxLanes(vf x) { return _mm512_reduce_max_ps(x); }

/// f64 accumulation of f32 lanes: sums stay exact enough whatever their length.
using vd = __m512d;
static inline vd vdzero() { return _mm512_setzero_pd(); }
static inline vd vdlow(vf x) { return _mm512_cvtps_pd(_mm512_castps512_ps256(x)); }
static inline vd vdhigh(vf x) {
  return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
}
static inline vd vdadd(vd a, vd b) { return _mm512_add_pd(a, b); }
static inline double vdsum(vd x) { return _mm512_reduce_add_pd(x); }
static inline vd vdset(double x) { return _mm512_set1_pd(x); }
static inline void vdstore(double* p, vd x) { _mm512_storeu_pd(p, x); }
static inline vd vdsub(vd a, vd b) { return _mm512_sub_pd(a, b); }
static inline vd vdmul(vd a, vd b) { return _mm512_mul_pd(a, b); }
static inline vd vdfma(vd a, vd b, vd c) { return _mm512_fmadd_pd(a, b, c); }
/// The f32 vector of two f64 halves.
static inline vf vfromd(vd lo, vd hi) {
  const __m512 low = _mm512_castps256_ps512(_mm512_cvtpd_ps(lo));
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(low), _mm256_castps_pd(_mm512_cvtpd_ps(hi)), 1));
}

#elif defined(__AVX2__)

using vf = __m256;
using vi = __m256i;
using vm = __m256;
constexpr int kLanes = 8;

static inline vf vset(float x) { return _mm256_set1_ps(x); }
static inline vf vload(const float* p) { return _mm256_loadu_ps(p); }
static inline void vstore(float* p, vf x) { _mm256_storeu_ps(p, x); }
static inline vi firstLanes(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vloadPart(const float* p, int64_t n) { return _mm256_maskload_ps(p, firstLanes(n)); }
static inline void vstorePart(float* p, vf x, int64_t n) { _mm256_maskstore_ps(p, firstLanes(n), x); }
static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vsqrt(vf a) { return _mm256_sqrt_ps(a); }
static inline vf vmaxRaw(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vminRaw(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vand(vf a, vf b) { return _mm256_and_ps(a, b); }
static inline vf vor(vf a, vf b) { return _mm256_or_ps(a, b); }
static inline vf vxor(vf a, vf b) { return _mm256_xor_ps(a, b); }
static inline vm veq(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
static inline vm vne(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_NEQ_UQ); }
static inline vm vlt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline vm vle(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
static inline vm vgt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline vm vge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
static inline vm visnan(vf a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
static inline vm mand(vm a, vm b) { return _mm256_and_ps(a, b); }
static inline vm mor(vm a, vm b) { return _mm256_or_ps(a, b); }
static inline vm mnone() { return _mm256_setzero_ps(); }
static inline bool many(vm m) { return _mm256_movemask_ps(m) != 0; }
static inline vf vselect(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
static inline vf vround(vf x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vi vtoint(vf x) { return _mm256_cvtps_epi32(x); }
static inline vf vtofloat(vi x) { return _mm256_cvtepi32_ps(x); }
static inline vi viadd(vi a, vi b) { return _mm256_add_epi32(a, b); }
static inline vi visub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
static inline vi viset(int32_t x) { return _mm256_set1_epi32(x); }
static inline vi vshiftRight(vi a, int n) { return _mm256_srai_epi32(a, n); }
static inline vi vshiftLeft(vi a, int n) { return _mm256_slli_epi32(a, n); }
static inline vi vbits(vf a) { return _mm256_castps_si256(a); }
static inline vf vfrombits(vi a) { return _mm256_castsi256_ps(a); }
static inline vi viand(vi a, vi b) { return _mm256_and_si256(a, b); }
static inline float vsum(vf x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
static inline float vmaxLanes(vf x) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

using vd = __m256d;
static inline vd vdzero() { return _mm256_setzero_pd(); }
static inline vd vdlow(vf x) { return _mm256_cvtps_pd(_mm256_castps256_ps128(x)); }
static inline vd vdhigh(vf x) { return _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)); }
static inline vd vdadd(vd a, vd b) { return _mm256_add_pd(a, b); }
static inline double vdsum(vd x) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(x), _mm256_extractf128_pd(x, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
static inline vd vdset(double x) { return _mm256_set1_pd(x); }
static inline void vdstore(double* p, vd x) { _mm256_storeu_pd(p, x); }
static inline vd vdsub(vd a, vd b) { return _mm256_sub_pd(a, b); }
static inline vd vdmul(vd a, vd b) { return _mm256_mul_pd(a, b); }
static inline vd vdfma(vd a, vd b, vd c) { return _mm256_fmadd_pd(a, b, c); }
static inline vf vfromd(vd lo, vd hi) { return _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo)); }

#else

// One lane: the same code compiles to plain scalar arithmetic.
using vf = float;
using vi = int32_t;
using vm = bool;
constexpr int kLanes = 1;

static inline vf vset(float x) { return x; }
static inline vf vload(const float* p) { return *p; }
static inline void vstore(float* p, vf x) { *p = x; }
static inline vf vloadPart(const float* p, int64_t n) { return n > 0 ? *p : 0.0f; }
static inline void vstorePart(float* p, vf x, int64_t n) {
  if (n > 0) *p = x;
}
static inline vf vadd(vf a, vf b) { return a + b; }
static inline vf vsub(vf a, vf b) { return a - b; }
static inline vf vmul(vf a, vf b) { return a * b; }
static inline vf vdiv(vf a, vf b) { return a / b; }
static inline vf vfma(vf a, vf b, vf c) { return a * b + c; }
static inline vf vsqrt(vf a) { return sqrtf(a); }
static inline vf vmaxRaw(vf a, vf b) { return a > b ? a : b; }
static inline vf vminRaw(vf a, vf b) { return a < b ? a : b; }
static inline vf vand(vf a, vf b) { return bitsToFloat(floatToBits(a) & floatToBits(b)); }
static inline vf vor(vf a, vf b) { return bitsToFloat(floatToBits(a) | floatToBits(b)); }
static inline vf vxor(vf a, vf b) { return bitsToFloat(floatToBits(a) ^ floatToBits(b)); }
static inline vm veq(vf a, vf b) { return a == b; }
static inline vm vne(vf a, vf b) { return a != b; }
static inline vm vlt(vf a, vf b) { return a < b; }
static inline vm vle(vf a, vf b) { return a <= b; }
static inline vm vgt(vf a, vf b) { return a > b; }
static inline vm vge(vf a, vf b) { return a >= b; }
static inline vm visnan(vf a) { return a != a; }
static inline vm mand(vm a, vm b) { return a && b; }
static inline vm mor(vm a, vm b) { return a || b; }
static inline vm mnone() { return false; }
static inline bool many(vm m) { return m; }
static inline vf vselect(vm m, vf a, vf b) { return m ? a : b; }
/// Round to nearest even by the 1.5 * 2^23 trick (|x| < 2^22 here), with no libm call.
static inline vf vround(vf x) { return (x + 12582912.0f) - 12582912.0f; }
static inline vi vtoint(vf x) { return static_cast<int32_t>(x); }
static inline vf vtofloat(vi x) { return static_cast<float>(x); }
static inline vi viadd(vi a, vi b) { return a + b; }
static inline vi visub(vi a, vi b) { return a - b; }
static inline vi viset(int32_t x) { return x; }
static inline vi vshiftRight(vi a, int n) { return a >> n; }
static inline vi vshiftLeft(vi a, int n) { return static_cast<int32_t>(static_cast<uint32_t>(a) << n); }
static inline vi vbits(vf a) { return static_cast<int32_t>(floatToBits(a)); }
static inline vf vfrombits(vi a) { return bitsToFloat(static_cast<uint32_t>(a)); }
static inline vi viand(vi a, vi b) { return a & b; }
static inline float vsum(vf x) { return x; }
static inline float vmaxLanes(vf x) { return x; }

// One lane widens to one double: the "high half" is an empty 0 that sums ignore.
using vd = double;
static inline vd vdzero() { return 0.0; }
static inline vd vdlow(vf x) { return x; }
static inline vd vdhigh(vf) { return 0.0; }
static inline vd vdadd(vd a, vd b) { return a + b; }
static inline double vdsum(vd x) { return x; }
static inline vd vdset(double x) { return x; }
static inline void vdstore(double* p, vd x) { *p = x; }
static inline vd vdsub(vd a, vd b) { return a - b; }
static inline vd vdmul(vd a, vd b) { return a * b; }
static inline vd vdfma(vd a, vd b, vd c) { return a * b + c; }
static inline vf vfromd(vd lo, vd) { return static_cast<float>(lo); }

#endif

static inline vf vneg(vf a) { return vxor(a, vset(-0.0f)); }
static inline vf vabs(vf a) { return vfrombits(viand(vbits(a), viset(0x7fffffff))); }

/// 2^n for integer n in [-126, 127], built in the exponent field.
static inline vf vpow2(vi n) { return vfrombits(vshiftLeft(viadd(n, viset(127)), 23)); }

/// e^x: x = n ln2 + r with |r| <= ln2 / 2, e^r by its Taylor series to r^7 (truncation below
/// 6e-9 relative), then scaled by 2^n in two steps so that subnormal results round only once.
static inline vf vexp(vf x) {
  const vm nan = visnan(x);
  const vf clamped = vminRaw(vmaxRaw(x, vset(-104.0f)), vset(89.0f));
  const vf n = vround(vmul(clamped, vset(1.44269504088896341f)));
  vf r = vfma(n, vset(-0.693145751953125f), clamped);  // ln2's leading bits: n * them is exact
  r = vfma(n, vset(-1.428606820309417232e-6f), r);
  vf p = vset(1.0f / 5040);
  p = vfma(p, r, vset(1.0f / 720));
  p = vfma(p, r, vset(1.0f / 120));
  p = vfma(p, r, vset(1.0f / 24));
  p = vfma(p, r, vset(1.0f / 6));
  p = vfma(p, r, vset(0.5f));
  p = vfma(p, r, vset(1.0f));
  p = vfma(p, r, vset(1.0f));
  const vi k = vtoint(n);
  const vi half = vshiftRight(k, 1);
  const vf result = vmul(vmul(p, vpow2(half)), vpow2(visub(k, half)));
  return vselect(nan, vadd(x, x), result);
}

/// ln x: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s) with s = (m - 1) / (m + 1),
/// |s| <= 0.172, by its series to s^9 (truncation below 3e-9 relative). Subnormals are scaled up
/// first; 0 gives -Inf, negatives NaN, +Inf itself.
static inline vf vlog(vf x) {
  const vm tiny = vlt(x, vset(1.17549435e-38f));
  const vf scaled = vselect(tiny, vmul(x, vset(8388608.0f)), x);  // 2^23
  const vi bits = vbits(scaled);
  // Split so that m lands in [sqrt(1/2), sqrt(2)): offset the bits by the pattern of sqrt(1/2).
  const vi shifted = visub(bits, viset(0x3f3504f3));
  const vi e = vshiftRight(shifted, 23);
  const vf m = vfrombits(viadd(viand(shifted, viset(0x007fffff)), viset(0x3f3504f3)));
  const vf exponent = vsub(vtofloat(e), vselect(tiny, vset(23.0f), vset(0.0f)));
  const vf s = vdiv(vsub(m, vset(1.0f)), vadd(m, vset(1.0f)));
  const vf s2 = vmul(s, s);
  vf p = vset(1.0f / 9);
  p = vfma(p, s2, vset(1.0f / 7));
  p = vfma(p, s2, vset(1.0f / 5));
  p = vfma(p, s2, vset(1.0f / 3));
  p = vmul(p, s2);
  const vf twoS = vadd(s, s);
  // ln m = 2s + 2s * s^2 * p; then + e ln2 with ln2 split so that e * hi is exact.
  vf result = vfma(twoS, p, vfma(exponent, vset(-2.12194440e-4f), twoS));
  result = vfma(exponent, vset(0.693359375f), result);
  result = vselect(veq(x, vset(0.0f)), vset(-INFINITY), result);
  result = vselect(mor(vlt(x, vset(0.0f)), visnan(x)), vset(NAN), result);
  return vselect(veq(x, vset(INFINITY)), x, result);
}

/// tanh x: its Taylor series to x^13 below |x| = 0.4 (truncation below 2e-9 relative), else
/// 1 - 2 / (e^2|x| + 1) with x's sign, which saturates to +-1 by itself.
static inline vf vtanh(vf x) {
  const vf a = vabs(x);
  const vf x2 = vmul(x, x);
  vf p = vset(21844.0f / 6081075);
  p = vfma(p, x2, vset(-1382.0f / 155925));
  p = vfma(p, x2, vset(62.0f / 2835));
  p = vfma(p, x2, vset(-17.0f / 315));
  p = vfma(p, x2, vset(2.0f / 15));
  p = vfma(p, x2, vset(-1.0f / 3));
  const vf small = vfma(vmul(p, x2), x, x);
  const vf e = vexp(vadd(vminRaw(a, vset(20.0f)), vminRaw(a, vset(20.0f))));
  const vf large = vsub(vset(1.0f), vdiv(vset(2.0f), vadd(e, vset(1.0f))));
  const vf signedLarge = vor(large, vand(x, vset(-0.0f)));
  const vf result = vselect(vlt(a, vset(0.4f)), small, signedLarge);
  // x itself for NaN and for +-0 (whose sign the polynomial would lose).
  return vselect(mor(visnan(x), veq(x, vset(0.0f))), x, result);
}

/// 1 / (1 + e^-x) from e = e^-|x|, so that nothing overflows: 1 / (1 + e), or e / (1 + e).
static inline vf vsigmoid(vf x) {
  const vf e = vexp(vneg(vabs(x)));
  const vf s = vdiv(vset(1.0f), vadd(vset(1.0f), e));
  return vselect(vge(x, vset(0.0f)), s, vmul(e, s));
}

/// z * z - round(z * z), exactly: what rounding the square lost.
static inline vf vsquareLoss(vf z, vf square) {
#if defined(__AVX512F__) || defined(__AVX2__)
  return vfma(z, z, vneg(square));
#else
  return static_cast<float>(static_cast<double>(z) * z - square);
#endif
}

/// c[0] + c[1] x + ... + c[n-1] x^(n-1).
static inline vf vpolynomial(vf x, const float* c, int n) {
  vf p = vset(c[n - 1]);
  for (int i = n - 2; i >= 0; i--) p = vfma(p, x, vset(c[i]));
  return p;
}

// Least-squares fits of relative error (computed for slimlm): erf(x) / x in x^2 on [0, 0.75]
// (within 2e-9), and erfc(z) e^(z^2) in 1/z - 0.9 on [0.75, 2] and in 1/z - 0.3 on [2, 10.5]
// (within 3e-9).
static const float kErfSmall[] = {1.128379166e+00f, -3.761262296e-01f, 1.128342411e-01f,
                                  -2.683669616e-02f, 5.118194194e-03f, -6.775157477e-04f};
static const float kErfcNear[] = {3.990292854e-01f, 2.983301528e-01f,  -1.325263311e-01f, 4.738850960e-02f,
                                  -7.863569567e-03f, -7.299619978e-03f, 1.055338325e-02f,  -8.897807291e-03f,
                                  5.679741794e-03f,  -2.143529459e-03f};
static const float kErfcFar[] = {1.624899613e-01f,  5.012528972e-01f,  -1.752765425e-01f,
                                 -7.316193661e-02f, 1.836664888e-01f,  -1.290952684e-01f,
                                 -5.921067385e-02f, 2.631615957e-01f,  -2.506819147e-01f};

/// erfc(a) for a >= 0 (not NaN), relative error below 5e-7: 1 - erf(a) below 0.75, else
/// e^(-a^2) times the fit. a^2 comes as square + loss (its rounding error), which keeps e^(-a^2)
/// accurate: the caller may know a^2 better than a itself (gelu's a = |x| / sqrt 2).
static inline vf verfcPositive(vf a, vf square, vf loss) {
  const vf small = vsub(vset(1.0f), vmul(a, vpolynomial(vmul(a, a), kErfSmall, 6)));
  const vf t = vdiv(vset(1.0f), vminRaw(a, vset(10.5f)));  // erfc underflows to 0 before 10.5
  const vf fit = vselect(vlt(a, vset(2.0f)), vpolynomial(vsub(t, vset(0.9f)), kErfcNear, 10),
                         vpolynomial(vsub(t, vset(0.3f)), kErfcFar, 9));
  const vf gaussian = vmul(vexp(vneg(square)), vsub(vset(1.0f), loss));
  return vselect(vlt(a, vset(0.75f)), small, vmul(gaussian, fit));
}

static inline vf verfcPositive(vf a) {
  const vf z = vminRaw(a, vset(10.5f));  // beyond, erfc is 0 and a^2 may overflow
  const vf square = vmul(z, z);
  return verfcPositive(z, square, vsquareLoss(z, square));
}

/// erfc(z) = 2 - erfc(-z) for negative z.
static inline vf verfc(vf z) {
  const vf c = verfcPositive(vabs(z));
  const vf result = vselect(vlt(z, vset(0.0f)), vsub(vset(2.0f), c), c);
  return vselect(visnan(z), vadd(z, z), result);
}

/// x Phi(x) = x erfc(-x / sqrt 2) / 2, with (x / sqrt 2)^2 taken as x^2 / 2 (exact halving).
static inline vf vgeluErf(vf x) {
  const vf clamped = vminRaw(vmaxRaw(x, vset(-15.0f)), vset(15.0f));  // erfc(15 / sqrt 2) is 0
  const vf square = vmul(clamped, clamped);
  const vf c = verfcPositive(vmul(vabs(clamped), vset(0.70710678118654752f)), vmul(square, vset(0.5f)),
                             vmul(vsquareLoss(clamped, square), vset(0.5f)));
  const vf phi2 = vselect(vgt(x, vset(0.0f)), vsub(vset(2.0f), c), c);
  const vf result = vmul(vmul(vset(0.5f), x), phi2);
  return vselect(visnan(x), vadd(x, x), result);
}

/// erf(x): x P(x^2) near 0 (keeping the sign of 0), else +-(1 - erfc(|x|)).
static inline vf verf(vf x) {
  const vf a = vabs(x);
  const vf small = vmul(x, vpolynomial(vmul(x, x), kErfSmall, 6));
  const vf large = vor(vsub(vset(1.0f), verfcPositive(a)), vand(x, vset(-0.0f)));
  const vf result = vselect(vlt(a, vset(0.75f)), small, large);
  return vselect(visnan(x), vadd(x, x), result);
}

/// Loops over n floats a vector at a time, the last partial vector through masked loads.
template <typename F>
static inline void unaryLoop(int64_t n, const float* a, float* out, F f) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) vstore(out + i, f(vload(a + i)));
  if (i < n) vstorePart(out + i, f(vloadPart(a + i, n - i)), n - i);
}

template <typename F>
static inline void binaryLoop(int64_t n, const float* a, const float* b, float* out, F f) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) vstore(out + i, f(vload(a + i), vload(b + i)));
  if (i < n) vstorePart(out + i, f(vloadPart(a + i, n - i), vloadPart(b + i, n - i)), n - i);
}

/// The larger of a and b as Math.max has it: NaN wins (a + b keeps a NaN payload), and +0 beats
/// -0 (the AND of two zeros' bits).
static inline vf vmaximum(vf a, vf b) {
  vf r = vselect(veq(a, b), vand(a, b), vadd(a, b));
  r = vselect(vgt(b, a), b, r);
  return vselect(vgt(a, b), a, r);
}

/// The smaller as Math.min has it: NaN wins, -0 beats +0 (the OR of two zeros' bits).
static inline vf vminimum(vf a, vf b) {
  vf r = vselect(veq(a, b), vor(a, b), vadd(a, b));
  r = vselect(vlt(b, a), b, r);
  return vselect(vlt(a, b), a, r);
}

static inline int64_t minInt(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t maxInt(int64_t a, int64_t b) { return a > b ? a : b; }

/// Sum of n contiguous floats in f64.
static inline double sumF64(const float* x, int64_t n) {
  vd lo = vdzero(), hi = vdzero();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const vf v = vload(x + i);
    lo = vdadd(lo, vdlow(v));
    hi = vdadd(hi, vdhigh(v));
  }
  double total = vdsum(vdadd(lo, hi));
  for (; i < n; i++) total += x[i];
  return total;
}

/// Sum of e^(x - shift) over n contiguous floats, in f64.
static inline double expSumF64(const float* x, int64_t n, float shift) {
  const vf s = vset(shift);
  vd lo = vdzero(), hi = vdzero();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const vf e = vexp(vsub(vload(x + i), s));
    lo = vdadd(lo, vdlow(e));
    hi = vdadd(hi, vdhigh(e));
  }
  double total = vdsum(vdadd(lo, hi));
  if (i < n) {
    // Lanes past the end hold e^(0 - shift): only the first n - i count.
    alignas(64) float lanes[kLanes];
    vstore(lanes, vexp(vsub(vloadPart(x + i, n - i), s)));
    for (int64_t l = 0; l < n - i; l++) total += lanes[l];
  }
  return total;
}

/// Largest of n (>= 1) contiguous floats; NaN if any is NaN.
static inline float maxF32(const float* x, int64_t n) {
  vf best = vset(-INFINITY);
  vm nan = mnone();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const vf v = vload(x + i);
    nan = mor(nan, visnan(v));
    best = vmaxRaw(v, best);
  }
  float result = vmaxLanes(best);
  bool anyNan = many(nan);
  for (; i < n; i++) {
    if (x[i] != x[i]) anyNan = true;
    if (x[i] > result) result = x[i];
  }
  return anyNan ? NAN : result;
}

/// The per-thread work split: about this many elements per task, so that small calls stay on
/// the calling thread.
constexpr int64_t kGrainElements = 32768;

static inline int64_t grainFor(int64_t elementsPerTask) {
  return maxInt(1, kGrainElements / maxInt(1, elementsPerTask));
}

/// Walks the multi-index of `rank` dims in row-major order, tracking the offsets of up to four
/// operands (element strides each).
struct Odometer {
  int32_t rank;
  const int64_t* shape;
  int64_t index[kMaxDims];
  int64_t offset[4];
  const int64_t* strides[4];
  int32_t operands;

  /// Positions the walk at flat position `position` of the dims.
  void start(int64_t position) {
    for (int k = 0; k < operands; k++) offset[k] = 0;
    for (int d = rank - 1; d >= 0; d--) {
      index[d] = position % shape[d];
      position /= shape[d];
      for (int k = 0; k < operands; k++) offset[k] += index[d] * strides[k][d];
    }
  }

  void next() {
    for (int d = rank - 1; d >= 0; d--) {
      index[d]++;
      for (int k = 0; k < operands; k++) offset[k] += strides[k][d];
      if (index[d] < shape[d]) return;
      for (int k = 0; k < operands; k++) offset[k] -= strides[k][d] * shape[d];
      index[d] = 0;
    }
  }
};

static inline int64_t product(const int64_t* shape, int32_t rank) {
  int64_t total = 1;
  for (int d = 0; d < rank; d++) total *= shape[d];
  return total;
}

}  // namespace
}  // namespace SLIMLM_ISA
}  // namespace slimlm
