// gptqQuantizeBlock for one ISA. Rows are independent inside a block, so threads split the rows;
// within a row, columns go left to right and each column's error updates the rest of the row,
// a contiguous run that the vector path takes 16 (AVX-512) or 8 (AVX2) floats at a time. Every
// step is one f32 operation rounded like the reference's torch code: the update is a product
// then a subtraction, never a fused multiply-add (see isa/unfused.h).
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "gptq/gptq.h"
#include "gptq/isa/unfused.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {


/// row[j] -= e * h[j] for j < n.
static inline void subtractScaled(float* row, const float* h, float e, int64_t n) {
  int64_t j = 0;
#if defined(__AVX512F__)
  const __m512 ev = _mm512_set1_ps(e);
  for (; j + 16 <= n; j += 16) {
    const __m512 p = unfused(_mm512_mul_ps(ev, _mm512_loadu_ps(h + j)));
    _mm512_storeu_ps(row + j, _mm512_sub_ps(_mm512_loadu_ps(row + j), p));
  }
  if (j < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - j)) - 1);
    const __m512 p = unfused(_mm512_mul_ps(ev, _mm512_maskz_loadu_ps(m, h + j)));
    _mm512_mask_storeu_ps(row + j, m, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j), p));
    return;
  }
#elif defined(__AVX2__)
  const __m256 ev = _mm256_set1_ps(e);
  for (; j + 8 <= n; j += 8) {
    const __m256 p = unfused(_mm256_mul_ps(ev, _mm256_loadu_ps(h + j)));
    _mm256_storeu_ps(row + j, _mm256_sub_ps(_mm256_loadu_ps(row + j), p));
  }
#endif
  for (; j < n; j++) {
    const float p = unfused(e * h[j]);
    row[j] = row[j] - p;
  }
}

/// The nearest integer, ties to even (torch.round), in the default rounding mode.
static inline float roundEven(float x) { return __builtin_rintf(x); }

void quantizeRows(const GptqBlockArgs& a, int64_t begin, int64_t end) {
  const int64_t b = a.cols;
  for (int64_t r = begin; r < end; r++) {
    // The row being worked on lives in err: weights until quantized, then their errors.
    float* work = a.err + r * b;
    const float* w = a.w + r * b;
    for (int64_t j = 0; j < b; j++) work[j] = w[j];
    for (int64_t i = 0; i < b; i++) {
      const int64_t g = a.params[i];
      const float scale = a.scales[g * a.rows + r];
      const float zero = a.zeros[g * a.rows + r];
      const float x = work[i];
      float code = roundEven(x / scale) + zero;
      code = code < 0.0f ? 0.0f : (code > a.maxq ? a.maxq : code);
      const float q = unfused(scale * (code - zero));
      const float d = a.hinv[i * b + i];
      const float diff = x - q;
      const float e = diff / d;
      const float square = unfused(diff * diff);
      const float dd = unfused(d * d);
      a.q[r * b + i] = q;
      a.losses[r * b + i] = (square / dd) / 2.0f;
      a.codes[r * b + i] = static_cast<uint8_t>(code);
      work[i] = e;
      subtractScaled(work + i + 1, a.hinv + i * b + i + 1, e, b - i - 1);
    }
  }
}

void runRows(void* ctx, int64_t begin, int64_t end) {
  quantizeRows(*static_cast<const GptqBlockArgs*>(ctx), begin, end);
}

void quantizeBlock(const GptqBlockArgs& args, const Parallel& parallel) {
  // About 64k multiply-subtracts per chunk: a block row costs cols² / 2.
  const int64_t perRow = args.cols * args.cols / 2 + 1;
  int64_t grain = 65536 / perRow;
  if (grain < 1) grain = 1;
  GptqBlockArgs copy = args;
  parallel(args.rows, grain, runRows, &copy);
}

}  // namespace

const GptqTable& gptqTable() {
  static const GptqTable table = {quantizeBlock};
  return table;
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
