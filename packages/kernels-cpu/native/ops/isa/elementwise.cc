// map: every elementwise op on f32, f16 and bf16 (arithmetic, math, activations, comparisons and
// casts), on any strides. Work goes in chunks of up to kChunk elements of the innermost dim:
// operands that are contiguous f32 are read in place, the others (halves, strided, broadcast)
// are first converted into an f32 buffer; the result is computed in f32 and converted on store.
#include <math.h>

#include "ops/ops.h"
#include "ops/simd.h"
#include "slimlm/half.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

constexpr int64_t kChunk = 512;

// ---- conversions, bit-exact with slimlm/half.h ------------------------------------------------

/// n f16 values to f32. The F16C instruction quiets signalling NaNs where half.h keeps their
/// bits, so a vector holding any NaN converts lane by lane.
void f16Load(const uint16_t* in, float* out, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    const vf v = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)));
    if (many(visnan(v))) {
      for (int l = 0; l < 16; l++) out[i + l] = f16ToF32(in[i + l]);
    } else {
      vstore(out + i, v);
    }
  }
#elif defined(__AVX2__)
  for (; i + 8 <= n; i += 8) {
    const vf v = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
    if (many(visnan(v))) {
      for (int l = 0; l < 8; l++) out[i + l] = f16ToF32(in[i + l]);
    } else {
      vstore(out + i, v);
    }
  }
#endif
  for (; i < n; i++) out[i] = f16ToF32(in[i]);
}

void bf16Load(const uint16_t* in, float* out, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)));
    _mm512_storeu_si512(out + i, _mm512_slli_epi32(wide, 16));
  }
#elif defined(__AVX2__)
  for (; i + 8 <= n; i += 8) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_slli_epi32(wide, 16));
  }
#endif
  for (; i < n; i++) out[i] = bf16ToF32(in[i]);
}

/// n f32 values to f16, nearest even. The instruction differs from half.h on NaN payloads only,
/// so a vector holding any NaN converts lane by lane.
void f16Store(const float* in, uint16_t* out, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    const vf v = vload(in + i);
    if (many(visnan(v))) {
      for (int l = 0; l < 16; l++) out[i + l] = f32ToF16(in[i + l]);
    } else {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
  }
#elif defined(__AVX2__)
  for (; i + 8 <= n; i += 8) {
    const vf v = vload(in + i);
    if (many(visnan(v))) {
      for (int l = 0; l < 8; l++) out[i + l] = f32ToF16(in[i + l]);
    } else {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
  }
#endif
  for (; i < n; i++) out[i] = f32ToF16(in[i]);
}

/// n f32 values to bf16 with half.h's integer rounding (the AVX-512 BF16 instruction flushes
/// subnormals), NaNs kept quiet.
void bf16Store(const float* in, uint16_t* out, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(in + i);
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i top = _mm512_srli_epi32(bits, 16);
    const __m512i lsb = _mm512_and_si512(top, _mm512_set1_epi32(1));
    const __m512i biased = _mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7fff)), lsb);
    const __m512i rounded = _mm512_srli_epi32(biased, 16);
    const __mmask16 noPayload = _mm512_testn_epi32_mask(top, _mm512_set1_epi32(0x7f));
    const __m512i quiet = _mm512_mask_or_epi32(top, noPayload, top, _mm512_set1_epi32(0x40));
    const __m512i result = _mm512_mask_blend_epi32(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), rounded, quiet);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(result));
  }
#elif defined(__AVX2__)
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(in + i);
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i top = _mm256_srli_epi32(bits, 16);
    const __m256i lsb = _mm256_and_si256(top, _mm256_set1_epi32(1));
    const __m256i biased = _mm256_add_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(0x7fff)), lsb);
    const __m256i rounded = _mm256_srli_epi32(biased, 16);
    const __m256i payload = _mm256_and_si256(top, _mm256_set1_epi32(0x7f));
    const __m256i noPayload = _mm256_cmpeq_epi32(payload, _mm256_setzero_si256());
    const __m256i quiet = _mm256_blendv_epi8(top, _mm256_or_si256(top, _mm256_set1_epi32(0x40)), noPayload);
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    const __m256i result = _mm256_blendv_epi8(rounded, quiet, nan);
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(result), _mm256_extracti128_si256(result, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), packed);
  }
#endif
  for (; i < n; i++) out[i] = f32ToBf16(in[i]);
}

/// n elements `stride` apart (0: one value repeated) of any type, as f32.
void loadF32(const void* data, ValueType type, int64_t stride, int64_t n, float* out) {
  if (stride == 1) {
    switch (type) {
      case ValueType::f16: return f16Load(static_cast<const uint16_t*>(data), out, n);
      case ValueType::bf16: return bf16Load(static_cast<const uint16_t*>(data), out, n);
      case ValueType::u8:
        for (int64_t i = 0; i < n; i++) out[i] = static_cast<const uint8_t*>(data)[i];
        return;
      default: std::memcpy(out, data, n * 4); return;
    }
  }
  float one = 0;
  switch (type) {
    case ValueType::f16:
      if (stride == 0) one = f16ToF32(*static_cast<const uint16_t*>(data));
      else for (int64_t i = 0; i < n; i++) out[i] = f16ToF32(static_cast<const uint16_t*>(data)[i * stride]);
      break;
    case ValueType::bf16:
      if (stride == 0) one = bf16ToF32(*static_cast<const uint16_t*>(data));
      else for (int64_t i = 0; i < n; i++) out[i] = bf16ToF32(static_cast<const uint16_t*>(data)[i * stride]);
      break;
    case ValueType::u8:
      if (stride == 0) one = *static_cast<const uint8_t*>(data);
      else for (int64_t i = 0; i < n; i++) out[i] = static_cast<const uint8_t*>(data)[i * stride];
      break;
    default:
      if (stride == 0) one = *static_cast<const float*>(data);
      else for (int64_t i = 0; i < n; i++) out[i] = static_cast<const float*>(data)[i * stride];
  }
  if (stride == 0) {
    for (int64_t i = 0; i < n; i++) out[i] = one;
  }
}

void storeF32(const float* in, int64_t n, void* data, ValueType type, int64_t stride) {
  if (stride == 1) {
    switch (type) {
      case ValueType::f16: return f16Store(in, static_cast<uint16_t*>(data), n);
      case ValueType::bf16: return bf16Store(in, static_cast<uint16_t*>(data), n);
      case ValueType::u8:
        for (int64_t i = 0; i < n; i++) static_cast<uint8_t*>(data)[i] = static_cast<uint8_t>(in[i]);
        return;
      default: std::memcpy(data, in, n * 4); return;
    }
  }
  for (int64_t i = 0; i < n; i++) {
    switch (type) {
      case ValueType::f16: static_cast<uint16_t*>(data)[i * stride] = f32ToF16(in[i]); break;
      case ValueType::bf16: static_cast<uint16_t*>(data)[i * stride] = f32ToBf16(in[i]); break;
      case ValueType::u8: static_cast<uint8_t*>(data)[i * stride] = static_cast<uint8_t>(in[i]); break;
      default: static_cast<float*>(data)[i * stride] = in[i];
    }
  }
}

// ---- the functions ------------------------------------------------------------------------------

/// Functions libm computes best: evaluated in f64 element by element, as the reference does.
template <typename F>
void libmLoop(int64_t n, const float* a, float* out, F f) {
  for (int64_t i = 0; i < n; i++) out[i] = static_cast<float>(f(static_cast<double>(a[i])));
}

/// 1 where the comparison holds, else 0 (stored as u8).
template <typename C>
void compareLoop(int64_t n, const float* a, const float* b, float* out, C c) {
  binaryLoop(n, a, b, out, [c](vf x, vf y) { return vselect(c(x, y), vset(1.0f), vset(0.0f)); });
}

void compute(const MapArgs& m, int64_t n, const float* a, const float* b, float* out) {
  switch (m.op) {
    case MapOp::identity: std::memcpy(out, a, n * 4); break;
    case MapOp::add: binaryLoop(n, a, b, out, [](vf x, vf y) { return vadd(x, y); }); break;
    case MapOp::sub: binaryLoop(n, a, b, out, [](vf x, vf y) { return vsub(x, y); }); break;
    case MapOp::mul: binaryLoop(n, a, b, out, [](vf x, vf y) { return vmul(x, y); }); break;
    case MapOp::div: binaryLoop(n, a, b, out, [](vf x, vf y) { return vdiv(x, y); }); break;
    case MapOp::neg: unaryLoop(n, a, out, [](vf x) { return vneg(x); }); break;
    case MapOp::exp: unaryLoop(n, a, out, [](vf x) { return vexp(x); }); break;
    case MapOp::log: unaryLoop(n, a, out, [](vf x) { return vlog(x); }); break;
    case MapOp::sqrt: unaryLoop(n, a, out, [](vf x) { return vsqrt(x); }); break;
    // 1 / sqrt(x) in f64 rounds once, like the reference.
    case MapOp::rsqrt: libmLoop(n, a, out, [](double x) { return 1.0 / sqrt(x); }); break;
    case MapOp::tanh: unaryLoop(n, a, out, [](vf x) { return vtanh(x); }); break;
    case MapOp::sigmoid: unaryLoop(n, a, out, [](vf x) { return vsigmoid(x); }); break;
    // x * sigmoid(x) rather than x / (1 + e^-x): e^-x overflows f32 below -88.7 where the result
    // is still a normal number. Same special values: NaN at -Inf, Inf at +Inf.
    case MapOp::silu: unaryLoop(n, a, out, [](vf x) { return vmul(x, vsigmoid(x)); }); break;
    case MapOp::geluErf:
      unaryLoop(n, a, out, [](vf x) { return vgeluErf(x); });
      break;
    case MapOp::geluTanh:
      // x (1 + tanh u) / 2 = x / (1 + e^-2u): the same value without the cancellation of
      // 1 + tanh u for negative x.
      unaryLoop(n, a, out, [](vf x) {
        const vf inner = vfma(vmul(vmul(x, x), x), vset(0.044715f), x);
        const vf twiceU = vmul(inner, vset(2 * 0.79788456080286535588f));
        return vdiv(x, vadd(vset(1.0f), vexp(vneg(twiceU))));
      });
      break;
    case MapOp::relu: unaryLoop(n, a, out, [](vf x) { return vmaximum(x, vset(0.0f)); }); break;
    case MapOp::square: unaryLoop(n, a, out, [](vf x) { return vmul(x, x); }); break;
    case MapOp::maximum: binaryLoop(n, a, b, out, [](vf x, vf y) { return vmaximum(x, y); }); break;
    case MapOp::minimum: binaryLoop(n, a, b, out, [](vf x, vf y) { return vminimum(x, y); }); break;
    case MapOp::abs: unaryLoop(n, a, out, [](vf x) { return vabs(x); }); break;
    case MapOp::clamp: {
      const float low = m.params[0], high = m.params[1];
      unaryLoop(n, a, out, [low, high](vf x) { return vminimum(vmaximum(x, vset(low)), vset(high)); });
      break;
    }
    case MapOp::erf: unaryLoop(n, a, out, [](vf x) { return verf(x); }); break;
    case MapOp::sin: libmLoop(n, a, out, [](double x) { return sin(x); }); break;
    case MapOp::cos: libmLoop(n, a, out, [](double x) { return cos(x); }); break;
    case MapOp::pow:
      // Both arguments double: C's pow itself, not a <cmath> template for mixed types.
      for (int64_t i = 0; i < n; i++) {
        out[i] = static_cast<float>(pow(static_cast<double>(a[i]), static_cast<double>(b[i])));
      }
      break;
    case MapOp::equal: compareLoop(n, a, b, out, [](vf x, vf y) { return veq(x, y); }); break;
    case MapOp::notEqual: compareLoop(n, a, b, out, [](vf x, vf y) { return vne(x, y); }); break;
    case MapOp::greater: compareLoop(n, a, b, out, [](vf x, vf y) { return vgt(x, y); }); break;
    case MapOp::greaterEqual: compareLoop(n, a, b, out, [](vf x, vf y) { return vge(x, y); }); break;
    case MapOp::less: compareLoop(n, a, b, out, [](vf x, vf y) { return vlt(x, y); }); break;
    case MapOp::lessEqual: compareLoop(n, a, b, out, [](vf x, vf y) { return vle(x, y); }); break;
    case MapOp::logicalNot:
      unaryLoop(n, a, out, [](vf x) { return vselect(veq(x, vset(0.0f)), vset(1.0f), vset(0.0f)); });
      break;
  }
}

int64_t valueBytes(ValueType type) {
  switch (type) {
    case ValueType::f32:
    case ValueType::i32: return 4;
    case ValueType::u8: return 1;
    default: return 2;
  }
}

/// n i32 elements `stride` apart (0: one repeated), contiguous.
void loadInts(const int32_t* data, int64_t stride, int64_t n, int32_t* out) {
  if (stride == 1) {
    std::memcpy(out, data, n * 4);
  } else {
    for (int64_t i = 0; i < n; i++) out[i] = data[i * stride];
  }
}

/// Comparisons of i32 operands (index masks, as the cross-entropy gradient builds), exact for
/// every value where an f32 round trip would not be.
void compareInts(MapOp op, int64_t n, const int32_t* a, const int32_t* b, uint8_t* out, int64_t stride) {
  for (int64_t i = 0; i < n; i++) {
    bool result;
    switch (op) {
      case MapOp::equal: result = a[i] == b[i]; break;
      case MapOp::notEqual: result = a[i] != b[i]; break;
      case MapOp::greater: result = a[i] > b[i]; break;
      case MapOp::greaterEqual: result = a[i] >= b[i]; break;
      case MapOp::less: result = a[i] < b[i]; break;
      default: result = a[i] <= b[i]; break;
    }
    out[i * stride] = result ? 1 : 0;
  }
}

/// Tasks are (row of the outer dims, chunk of the innermost dim).
void mapTasks(void* ctx, int64_t begin, int64_t end) {
  const MapArgs& m = *static_cast<const MapArgs*>(ctx);
  const int32_t last = m.rank - 1;
  const int64_t inner = m.shape[last];
  const int64_t chunks = (inner + kChunk - 1) / kChunk;
  alignas(64) float buffers[3][kChunk];
  Odometer walk{last, m.shape, {}, {}, {m.out.strides, m.in[0].strides, m.in[1].strides}, 1 + m.inputs};
  int64_t row = begin / chunks;
  walk.start(row);
  for (int64_t task = begin; task < end; task++) {
    if (task / chunks != row) {
      row++;
      walk.next();
    }
    const int64_t first = (task % chunks) * kChunk;
    const int64_t n = minInt(kChunk, inner - first);
    if (m.in[0].type == ValueType::i32) {
      alignas(64) int32_t ints[2][kChunk];
      for (int k = 0; k < 2; k++) {
        const int64_t stride = m.in[k].strides[last];
        loadInts(static_cast<const int32_t*>(m.in[k].data) + walk.offset[1 + k] + first * stride, stride, n, ints[k]);
      }
      const int64_t outStride = m.out.strides[last];
      compareInts(m.op, n, ints[0], ints[1], static_cast<uint8_t*>(m.out.data) + walk.offset[0] + first * outStride,
                  outStride);
      continue;
    }
    const float* sources[2] = {nullptr, nullptr};
    for (int k = 0; k < m.inputs; k++) {
      const Operand& in = m.in[k];
      const int64_t stride = in.strides[last];
      const int64_t at = walk.offset[1 + k] + first * stride;
      if (in.type == ValueType::f32 && stride == 1) {
        sources[k] = static_cast<const float*>(in.data) + at;
      } else {
        loadF32(static_cast<const uint8_t*>(in.data) + at * valueBytes(in.type), in.type, stride, n, buffers[1 + k]);
        sources[k] = buffers[1 + k];
      }
    }
    const int64_t outStride = m.out.strides[last];
    const int64_t outAt = walk.offset[0] + first * outStride;
    if (m.out.type == ValueType::f32 && outStride == 1) {
      compute(m, n, sources[0], sources[1], static_cast<float*>(m.out.data) + outAt);
    } else {
      compute(m, n, sources[0], sources[1], buffers[0]);
      uint8_t* target = static_cast<uint8_t*>(m.out.data) + outAt * valueBytes(m.out.type);
      storeF32(buffers[0], n, target, m.out.type, outStride);
    }
  }
}

}  // namespace

void map(const MapArgs& args, const Parallel& parallel) {
  const int64_t inner = args.shape[args.rank - 1];
  const int64_t chunks = (inner + kChunk - 1) / kChunk;
  const int64_t tasks = product(args.shape, args.rank - 1) * chunks;
  // libm functions cost tens of times an add: smaller tasks spread them across threads sooner.
  const bool slow = args.op == MapOp::sin || args.op == MapOp::cos || args.op == MapOp::pow || args.op == MapOp::rsqrt;
  const int64_t perTask = minInt(inner, kChunk) * (slow ? 16 : 1);
  parallel(tasks, grainFor(perTask), mapTasks, const_cast<MapArgs*>(&args));
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
