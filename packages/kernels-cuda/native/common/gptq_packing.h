// Reading GPTQ-packed weights (FORMATS.md), shared by the device kernels and the host (the
// bindings expose the same functions for the unit tests, which compare them with core's reference
// dequantize on every bit width). Codes of every width are one little-endian bit stream per
// column: code k of column n sits at bits b*k .. b*k+b-1 of qweight[:, n] read word by word, so a
// block of 32 input channels is exactly b words and code j of a block lies at bit b*j of them
// (a field straddles two words only at 3 bits). Zero points are the same stream along a qzeros row.
#pragma once

#include <cstdint>

#include "common/dtype.h"
#include "common/gpu.h"

namespace slimlm::cuda::gptq {

/// Input channels per packed block: a block of one column is `bits` consecutive qweight words.
constexpr int kBlock = 32;

/// Where code j (0..31) of a block lies: word index, bit offset, and whether it runs on into the
/// next word. This is the whole packing table; every extraction below follows it.
struct CodeField {
  int word;
  int shift;
  bool straddles;
};

SLIMLM_HD constexpr CodeField codeField(int bits, int j) {
  return CodeField{(bits * j) >> 5, (bits * j) & 31, ((bits * j) & 31) + bits > 32};
}

/// `bits` bits from a stream of words `stride` apart, starting at bit `bit` (any position).
SLIMLM_HD uint32_t field(const int32_t* words, int64_t stride, int64_t bit, int bits) {
  const int64_t word = bit >> 5;
  const int shift = static_cast<int>(bit & 31);
  uint32_t value = static_cast<uint32_t>(words[word * stride]) >> shift;
  if (shift + bits > 32) value |= static_cast<uint32_t>(words[(word + 1) * stride]) << (32 - shift);
  return value & ((1u << bits) - 1u);
}

/// Code j of a block whose B words are in registers (B and j compile-time after unrolling).
template <int B>
SLIMLM_HD uint32_t blockCode(const uint32_t (&words)[B], int j) {
  const CodeField f = codeField(B, j);
  uint32_t value = words[f.word] >> f.shift;
  if (f.straddles) value |= words[f.word + 1] << (32 - f.shift);
  return value & ((1u << B) - 1u);
}

/// The packed weight as plain pointers (host or device memory alike).
struct Packed {
  const int32_t* qweight;  // [k * bits / 32, n]
  const int32_t* qzeros;   // [groups, n * bits / 32]
  const void* scales;      // [groups, n]
  DType scaleType;
  int bits;
  int64_t n, k, groupSize;
  int zeroOffset;  // 1 for v1 checkpoints (z - 1 stored), 0 for v2
};

SLIMLM_HD int32_t codeAt(const Packed& w, int64_t k, int64_t col) {
  return static_cast<int32_t>(field(w.qweight + col, w.n, w.bits * k, w.bits));
}

/// The zero point of group g, column col, as the format defines it: (stored + offset) masked.
SLIMLM_HD int32_t zeroAt(const Packed& w, int64_t g, int64_t col) {
  const int64_t rowWords = w.n * w.bits / 32;
  const uint32_t stored = field(w.qzeros + g * rowWords, 1, w.bits * col, w.bits);
  return static_cast<int32_t>((stored + static_cast<uint32_t>(w.zeroOffset)) & ((1u << w.bits) - 1u));
}

SLIMLM_HD float scaleAt(const Packed& w, int64_t g, int64_t col) {
  const int64_t i = g * w.n + col;
  switch (w.scaleType) {
    case DType::f16: return halfToFloat(static_cast<const half*>(w.scales)[i]);
    case DType::bf16: return bf16ToFloat(static_cast<const bfloat16*>(w.scales)[i]);
    default: return static_cast<const float*>(w.scales)[i];
  }
}

/// W[col, k] = scale * (q - z) with q - z an exact integer and one f32 rounding, as core's
/// reference computes it.
SLIMLM_HD float weightAt(const Packed& w, int64_t k, int64_t col, int64_t g) {
  return scaleAt(w, g, col) * static_cast<float>(codeAt(w, k, col) - zeroAt(w, g, col));
}

}  // namespace slimlm::cuda::gptq
