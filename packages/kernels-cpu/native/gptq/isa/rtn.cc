// gptqRtnQuantize and gptqPackCodes for one ISA (native/gptq/gptq.h).
//
// RTN: rows split across threads; each row's groups get the reference quantizer's parameters from
// their own weights (range [min(w, 0), max(w, 0)], symmetric or not) and each weight its nearest
// code, every step one f32 operation as the reference's torch code does, so codes, scales, zeros
// and fake-quantized weights equal the reference kernel's (@slimlm/gptq, algorithm/rtn.ts) bit
// for bit. Each row's loss Σ (w - q)² is summed in f64 lanes.
#include "gptq/gptq.h"
#include "gptq/isa/unfused.h"
#include "ops/simd.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {


/// The nearest integer, ties to even (torch.round), exact for every f32.
static inline float roundEven(float x) { return __builtin_rintf(x); }
#if defined(__AVX512F__) || defined(__AVX2__)
static inline vf roundEven(vf x) { return vround(x); }
#endif

/// The reference's find_params for one row of one group: scale and zero of `width` values.
void groupParams(const float* w, int64_t width, bool sym, float maxq, float* scale, float* zero) {
  float xmin = 0.0f, xmax = 0.0f;
  int64_t c = 0;
#if defined(__AVX512F__) || defined(__AVX2__)
  // min(v, acc) and max(v, acc) keep acc when v is NaN or both are zeros, as `v < xmin` does.
  vf lo = vset(0.0f), hi = vset(0.0f);
  for (; c + kLanes <= width; c += kLanes) {
    const vf v = vload(w + c);
    lo = vminRaw(v, lo);
    hi = vmaxRaw(v, hi);
  }
  float lanes[kLanes];
  vstore(lanes, lo);
  for (int j = 0; j < kLanes; j++) xmin = lanes[j] < xmin ? lanes[j] : xmin;
  vstore(lanes, hi);
  for (int j = 0; j < kLanes; j++) xmax = lanes[j] > xmax ? lanes[j] : xmax;
#endif
  for (; c < width; c++) {
    if (w[c] < xmin) xmin = w[c];
    if (w[c] > xmax) xmax = w[c];
  }
  if (sym) {
    const float m = -xmin;
    xmax = m > xmax ? m : xmax;
    if (xmin < 0.0f) xmin = -xmax;
  }
  if (xmin == 0.0f && xmax == 0.0f) {
    xmin = -1.0f;
    xmax = 1.0f;
  }
  const float s = (xmax - xmin) / maxq;
  *scale = s;
  // `+ 0.0f` turns the -0 of a row with xmin = 0 into 0.
  *zero = sym ? (maxq + 1.0f) / 2.0f : roundEven(-xmin / s) + 0.0f;
}

/// Codes and fake-quantized values of `width` weights with one scale and zero; returns Σ (w - q)².
double quantizeRun(const float* w, int64_t width, float scale, float zero, float maxq, uint8_t* codes, float* q) {
  int64_t c = 0;
  vd lossLow = vdzero(), lossHigh = vdzero();
#if defined(__AVX512F__) || defined(__AVX2__)
  const vf vscale = vset(scale), vzero = vset(zero), vmaxq = vset(maxq), none = vset(0.0f);
  for (; c + kLanes <= width; c += kLanes) {
    const vf x = vload(w + c);
    vf code = vadd(roundEven(vdiv(x, vscale)), vzero);
    // Compares leave NaN (a zero scale) in place, as the reference's clamp does.
    code = vselect(vlt(code, none), none, code);
    code = vselect(vgt(code, vmaxq), vmaxq, code);
    const vf value = vmul(vscale, vsub(code, vzero));
    vstore(q + c, value);
    // NaN converts to 0x80000000, whose low byte is the 0 a Uint8Array stores for NaN.
#if defined(__AVX512F__)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(codes + c), _mm512_cvtepi32_epi8(vtoint(code)));
#else
    alignas(32) int32_t ints[kLanes];
    _mm256_store_si256(reinterpret_cast<__m256i*>(ints), vtoint(code));
    for (int j = 0; j < kLanes; j++) codes[c + j] = static_cast<uint8_t>(ints[j]);
#endif
    const vd dLow = vdsub(vdlow(x), vdlow(value));
    const vd dHigh = vdsub(vdhigh(x), vdhigh(value));
    lossLow = vdadd(lossLow, unfused(vdmul(dLow, dLow)));
    lossHigh = vdadd(lossHigh, unfused(vdmul(dHigh, dHigh)));
  }
#endif
  double loss = vdsum(vdadd(lossLow, lossHigh));
  for (; c < width; c++) {
    float code = roundEven(w[c] / scale) + zero;
    code = code < 0.0f ? 0.0f : code;
    code = code > maxq ? maxq : code;
    const float value = scale * (code - zero);
    q[c] = value;
    codes[c] = code == code ? static_cast<uint8_t>(code) : 0;
    const double d = static_cast<double>(w[c]) - static_cast<double>(value);
    loss += unfused(d * d);
  }
  return loss;
}

void rtnRows(const RtnArgs& a, int64_t begin, int64_t end) {
  const int64_t k = a.cols;
  for (int64_t r = begin; r < end; r++) {
    double loss = 0.0;
    for (int64_t g = 0, start = 0; start < k; g++, start += a.groupSize) {
      const int64_t width = a.groupSize < k - start ? a.groupSize : k - start;
      float scale, zero;
      groupParams(a.w + r * k + start, width, a.sym, a.maxq, &scale, &zero);
      a.scales[g * a.rows + r] = scale;
      a.zeros[g * a.rows + r] = zero;
      loss += quantizeRun(a.w + r * k + start, width, scale, zero, a.maxq, a.codes + r * k + start, a.q + r * k + start);
    }
    a.losses[r] = loss;
  }
}

void rtnTasks(void* ctx, int64_t begin, int64_t end) { rtnRows(*static_cast<const RtnArgs*>(ctx), begin, end); }

void rtnQuantize(const RtnArgs& args, const Parallel& parallel) {
  int64_t grain = 65536 / (args.cols + 1);
  if (grain < 1) grain = 1;
  RtnArgs copy = args;
  parallel(args.rows, grain, rtnTasks, &copy);
}

/// Chunks of 32 input channels (b words of every column): chunk c packs codes [n, 32c .. 32c+31].
void packChunks(const PackCodesArgs& a, int64_t begin, int64_t end) {
  const int bits = a.bits;
  for (int64_t chunk = begin; chunk < end; chunk++) {
    int32_t* words = a.words + chunk * bits * a.n;
    for (int64_t col = 0; col < a.n; col++) {
      const uint8_t* codes = a.codes + col * a.k + chunk * 32;
      // The 32 codes as one little-endian stream of 32 * bits bits, in words of 32.
      uint64_t stream = 0;
      int filled = 0, word = 0;
      uint32_t all = 0;
      for (int i = 0; i < 32; i++) {
        all |= codes[i];
        stream |= static_cast<uint64_t>(codes[i]) << filled;
        filled += bits;
        if (filled >= 32) {
          words[word++ * a.n + col] = static_cast<int32_t>(static_cast<uint32_t>(stream));
          stream >>= 32;
          filled -= 32;
        }
      }
      if ((all >> bits) != 0) __atomic_store_n(a.overflow, 1, __ATOMIC_RELAXED);
    }
  }
}

void packTasks(void* ctx, int64_t begin, int64_t end) { packChunks(*static_cast<const PackCodesArgs*>(ctx), begin, end); }

void packCodes(const PackCodesArgs& args, const Parallel& parallel) {
  int64_t grain = 16384 / (args.n + 1);
  if (grain < 1) grain = 1;
  PackCodesArgs copy = args;
  parallel(args.k / 32, grain, packTasks, &copy);
}

}  // namespace

const RtnTable& rtnTable() {
  static const RtnTable table = {rtnQuantize, packCodes};
  return table;
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
