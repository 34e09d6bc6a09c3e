// The quantized-weight family (GPTQ): out = x @ W^T with W packed as FORMATS.md describes
// (qweight [K*b/32, N] packed along K, qzeros [G, N*b/32] packed along N, scales [G, N]), and the
// dequantization of W to f32 [N, K]. Its arguments, per-ISA table and bindings' entry point.
#pragma once

#include "slimlm/common.h"

namespace slimlm {

/// The packed weight. Codes of every width read as one little-endian bit stream per column
/// (qweight, rows `n` apart) or per row (qzeros): code j at bits b*j .. b*j+b-1.
struct PackedWeight {
  int64_t n, k;
  int32_t bits;
  int64_t groupSize;   // input channels per group; >= k for one group
  int32_t zeroOffset;  // 1 for v1 (stored z - 1; read (qz + 1) & (2^b - 1)), 0 for v2
  const int32_t* qweight;
  const int32_t* qzeros;
  const void* scales;
  DType scaleType;
};

/// out [m, n] f32 = x [m, k] f32 (contiguous) @ W^T (+ bias [n]). Needs k a multiple of 32 and
/// groupSize a multiple of 32 or >= k (the glue sends other shapes through dequantize + GEMM).
struct QuantMatmulArgs {
  PackedWeight w;
  int64_t m;
  const float* x;
  const void* bias;  // nullptr for none
  DType biasType;
  float* out;
  /// Quantize x to int8 per row and block (bits 2, 4, 8; see quant/isa/int8.cc) instead of
  /// multiplying in f32.
  bool int8Activations;
  /// i32 [k], each in [0, k) (the bindings check): input channel i of the product reads x's
  /// channel perm[i] (act-order weights, whose rows were reordered at load); nullptr for none.
  const int32_t* perm;
};

/// out [n, k] f32 = W; gIdx (nullptr: k / groupSize) gives each input channel's group.
struct DequantizeArgs {
  PackedWeight w;
  const int32_t* gIdx;
  float* out;
};

/// One ISA's kernels.
struct QuantTable {
  void (*quantMatmul)(const QuantMatmulArgs& args, const Parallel& parallel);
  void (*dequantize)(const DequantizeArgs& args, const Parallel& parallel);
};

namespace avx512 { const QuantTable& quantTable(); }
namespace avx2 { const QuantTable& quantTable(); }
namespace scalar { const QuantTable& quantTable(); }

}  // namespace slimlm
