// The op family (data movement, elementwise, reductions, normalizations, attention, loss): the
// kernels' arguments, the per-ISA table and the N-API bindings' entry point.
//
// Arguments arrive already simplified by ops/bindings.cc: offsets applied to the pointers, size-1
// dims dropped and adjacent dims merged wherever every operand's strides allow, so a contiguous
// tensor is one dim and a kernel's innermost loop is as long as it can be. Strides are in
// elements and may be anything, 0 (broadcast) included.
#pragma once

#include <cstdint>

#include "slimlm/common.h"

namespace slimlm {

/// Dims a kernel sees after simplification; the glue sends the reference kernel anything with
/// more dims than this before simplification.
constexpr int kMaxDims = 16;

/// Element types of op operands (f32, f16 and bf16 share their codes with DType). i32 operands
/// only go to comparisons, which compare them as integers.
enum class ValueType : int32_t { f32 = 0, f16 = 1, bf16 = 2, u8 = 3, i32 = 4 };

/// A strided operand: `data` points at its first element.
struct Operand {
  void* data;
  ValueType type;
  int64_t strides[kMaxDims];
};

/// copy: dst = src over `shape`, moving raw elements of `elementBytes` bytes (1, 2, 4 or 8).
struct CopyArgs {
  int32_t elementBytes;
  int32_t rank;
  int64_t shape[kMaxDims];
  Operand dst, src;
};

/// fill: `count` contiguous elements of `elementBytes` bytes, each set to the bytes at `value`.
struct FillArgs {
  int32_t elementBytes;
  int64_t count;
  void* dst;
  const void* value;
};

/// select: out = cond (u8) != 0 ? a : b, raw elements of `elementBytes` bytes (where, maskedFill).
struct SelectArgs {
  int32_t elementBytes;
  int32_t rank;
  int64_t shape[kMaxDims];
  Operand out, cond, a, b;
};

/// Elementwise functions of map; the codes are shared with src/kernels/elementwise.ts.
enum class MapOp : int32_t {
  identity = 0,  // cast between f32, f16 and bf16
  add, sub, mul, div, neg, exp, log, sqrt, rsqrt, tanh, sigmoid, silu, geluErf, geluTanh, relu,
  square, maximum, minimum, abs, clamp, erf, sin, cos, pow,
  equal, notEqual, greater, greaterEqual, less, lessEqual, logicalNot,
};

/// map: out = op(in[0], in[1]) over `shape`, computed in f32 (f64 for the libm functions) and
/// rounded to out's type; comparisons of i32 operands compare integers. clamp reads its bounds
/// from params.
struct MapArgs {
  MapOp op;
  int32_t rank;
  int32_t inputs;
  int64_t shape[kMaxDims];
  Operand out;
  Operand in[2];
  float params[2];
};

/// Reductions over some axes of an f32 tensor into a contiguous output (f32, i32 for argmax).
enum class ReduceOp : int32_t { sum = 0, mean, max, min, argmax, logsumexp };

/// `kept` are the output's dims (x's strides along them), `reduced` the dims each output folds,
/// in x's row-major order (argmax counts positions in it).
struct ReduceArgs {
  ReduceOp op;
  const float* x;
  int32_t keptRank, reducedRank;
  int64_t keptShape[kMaxDims], keptStrides[kMaxDims];
  int64_t reducedShape[kMaxDims], reducedStrides[kMaxDims];
  void* out;
};

/// Lanes of `length` elements, `xStep` / `outStep` apart within a lane, one lane per index of the
/// remaining dims (`shape`, with x's and out's strides): softmax and logSoftmax along any axis.
struct SoftmaxArgs {
  bool log;
  int32_t rank;
  int64_t shape[kMaxDims], xStrides[kMaxDims], outStrides[kMaxDims];
  int64_t length, xStep, outStep;
  const float* x;
  float* out;
};

/// rmsNorm (center = false) and layerNorm over rows of `length` (x's rows strided, out's
/// contiguous); weight and bias are contiguous [length] or null.
struct NormArgs {
  bool center;
  double eps;
  int32_t rank;
  int64_t shape[kMaxDims], xStrides[kMaxDims];
  int64_t length, xStep;
  const float* x;
  const float* weight;
  const float* bias;
  float* out;
};

/// applyRotary, HF rotate_half: rows of `width` channels whose first `rotaryDim` rotate with the
/// rows of cos and sin (broadcast: stride 0); out is contiguous.
struct RotaryArgs {
  int32_t rank;
  int64_t shape[kMaxDims], xStrides[kMaxDims], cosStrides[kMaxDims], sinStrides[kMaxDims];
  int64_t width, rotaryDim, xStep, cosStep, sinStep;
  const float* x;
  const float* cos;
  const float* sin;
  float* out;
};

/// scaledDotProductAttention: q [B, Hq, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] with unit
/// stride along their last dim and strides (batch, head, position) otherwise; mask (or null) is
/// [B, Hq, Tq, Tk] on any strides; out is contiguous [B, Hq, Tq, Dv].
struct AttentionArgs {
  int64_t batch, queryHeads, kvHeads, queryLength, keyLength, depth, valueDepth;
  const float* q;
  const float* k;
  const float* v;
  const float* mask;
  int64_t qStrides[3], kStrides[3], vStrides[3], maskStrides[4];
  bool causal;
  float scale;
  float* out;
};

/// crossEntropy: per row of `classes` logits (rows over `shape` with x's strides, `classStep`
/// apart within a row), loss = logsumexp(row) - row[target] in f64, 0 where target == ignoreIndex.
/// Targets were range-checked by the glue.
struct CrossEntropyArgs {
  int32_t rank;
  int64_t shape[kMaxDims], strides[kMaxDims];
  int64_t classes, classStep;
  const float* logits;
  const int32_t* targets;
  int32_t ignoreIndex;
  double* losses;
};

/// gather: out [outer, count, inner] (contiguous) takes x's slab indices[k] along its axis;
/// x is [outer..., dim, inner...] with `outerRank` + 1 + `innerRank` dims.
struct GatherArgs {
  int32_t elementBytes;
  int32_t outerRank, innerRank;
  int64_t outerShape[kMaxDims], outerStrides[kMaxDims];
  int64_t innerShape[kMaxDims], innerStrides[kMaxDims];
  int64_t axisStride, count;
  const void* x;
  const int32_t* indices;
  void* out;
};

/// scatterAdd on contiguous f32: out [outer, dim, inner] += updates [outer, count, inner] at
/// out's slab indices[k] (repeated indices accumulate).
struct ScatterAddArgs {
  int64_t outer, dim, inner, count;
  const float* updates;
  const int32_t* indices;
  float* out;
};

/// One ISA's op kernels.
struct OpsTable {
  const char* isa;
  void (*copy)(const CopyArgs& args, const Parallel& parallel);
  void (*fill)(const FillArgs& args, const Parallel& parallel);
  void (*select)(const SelectArgs& args, const Parallel& parallel);
  void (*map)(const MapArgs& args, const Parallel& parallel);
  void (*reduce)(const ReduceArgs& args, const Parallel& parallel);
  void (*softmax)(const SoftmaxArgs& args, const Parallel& parallel);
  void (*norm)(const NormArgs& args, const Parallel& parallel);
  void (*rotary)(const RotaryArgs& args, const Parallel& parallel);
  void (*attention)(const AttentionArgs& args, const Parallel& parallel);
  void (*crossEntropy)(const CrossEntropyArgs& args, const Parallel& parallel);
  void (*gather)(const GatherArgs& args, const Parallel& parallel);
  void (*scatterAdd)(const ScatterAddArgs& args, const Parallel& parallel);
};

namespace avx512 { const OpsTable& opsTable(); }
namespace avx2 { const OpsTable& opsTable(); }
namespace scalar { const OpsTable& opsTable(); }

}  // namespace slimlm
