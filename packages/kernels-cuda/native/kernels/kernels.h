// The kernels' entry points, as the bindings call them: one arguments struct per family (plain
// data, filled from the TypeScript glue's named fields) and a launcher that queues the kernel on
// `stream`. Pointers are device addresses with the tensor's offset applied. Launchers check the
// launch (checkLaunch) and never synchronise.
#pragma once

#include <cstdint>

#include "common/dtype.h"
#include "common/gpu.h"
#include "common/gptq_packing.h"
#include "common/strided.h"

namespace slimlm::cuda {

// ---- elementwise.cu: map, copy, fill, select, gather ----

/// Functions of the map kernel; codes shared with src/kernels/elementwise.ts (MAP_OPS).
enum class MapOp : int32_t {
  identity = 0, add, sub, mul, div, neg, exp, log, sqrt, rsqrt, tanh, sigmoid, silu, geluErf,
  geluTanh, relu, square, maximum, minimum, abs, clamp, erf, sin, cos, pow, equal, notEqual,
  greater, greaterEqual, less, lessEqual, logicalNot
};

/// out = op(a[, b]) elementwise; operand 0 of `layout` is out, 1 is a, 2 is b. Float inputs
/// compute in f32 and round once to out's dtype; i32/u8 inputs compute in wrapping int32.
/// clamp's bounds are params[0] and params[1].
struct MapArgs {
  MapOp op;
  int32_t arity;
  double params[2];
  Indexer<3> layout;
  void* out;
  DType outType;
  const void* a;
  DType aType;
  const void* b;
  DType bType;
};
void launchMap(const MapArgs& args, cudaStream_t stream);

/// Raw elements of 1, 2 or 4 bytes between two strided views (operand 0 is dst, 1 is src).
struct CopyArgs {
  Indexer<2> layout;
  void* dst;
  const void* src;
  int32_t elementBytes;
};
void launchCopy(const CopyArgs& args, cudaStream_t stream);

/// `count` contiguous elements set to one bit pattern of `elementBytes` bytes.
struct FillArgs {
  void* dst;
  int64_t count;
  int32_t elementBytes;
  uint32_t bits;
};
void launchFill(const FillArgs& args, cudaStream_t stream);

/// out = cond ? a : b over raw elements (operands: out, cond, a, b). `a` may instead be one
/// value (aIsValue, its bits in aValue): maskedFill.
struct SelectArgs {
  Indexer<4> layout;
  void* out;
  const uint8_t* cond;
  const void* a;
  const void* b;
  int32_t elementBytes;
  bool aIsValue;
  uint32_t aValue;
};
void launchSelect(const SelectArgs& args, cudaStream_t stream);

/// out[o, i, r] = x[o, indices[i], r] for contiguous x [outer, axisSize, inner] and out
/// [outer, count, inner] (indices already range-checked by the op).
struct GatherArgs {
  const void* x;
  const int32_t* indices;
  void* out;
  int64_t outer, axisSize, inner, count;
  int32_t elementBytes;
};
void launchGather(const GatherArgs& args, cudaStream_t stream);

/// out[o, indices[i], r] += updates[o, i, r] for contiguous f32/f16/bf16 out and updates (out
/// already holds the target). Repeated indices accumulate with atomics, in no fixed order.
struct ScatterAddArgs {
  void* out;
  const int32_t* indices;
  const void* updates;
  DType type;
  int64_t outer, axisSize, inner, count;
};
void launchScatterAdd(const ScatterAddArgs& args, cudaStream_t stream);

// ---- reduce.cu ----

/// Codes shared with src/kernels/reduce.ts.
enum class ReduceOp : int32_t { sum = 0, mean, max, min, argmax, logsumexp };

/// out[o] = reduce over the inner elements of x at outer index o. `outerLayout` walks the kept
/// axes (operand 0: x), `innerLayout` the reduced ones; out is contiguous (i32 for argmax).
struct ReduceArgs {
  ReduceOp op;
  const void* x;
  DType xType;
  void* out;
  DType outType;
  Indexer<1> outerLayout;
  Indexer<1> innerLayout;
};
void launchReduce(const ReduceArgs& args, cudaStream_t stream);

// ---- normalization.cu: softmax, logSoftmax, rmsNorm, layerNorm ----

/// Contiguous x and out [outer, length, inner], normalised along `length`.
struct SoftmaxArgs {
  const void* x;
  void* out;
  DType type;
  int64_t outer, length, inner;
  bool log;
};
void launchSoftmax(const SoftmaxArgs& args, cudaStream_t stream);

/// Contiguous x and out [rows, features]; weight and bias [features] or null.
struct NormArgs {
  const void* x;
  const void* weight;
  const void* bias;
  void* out;
  DType type;
  int64_t rows, features;
  float eps;
  bool layer;  // layerNorm (subtract the mean) rather than rmsNorm
};
void launchNorm(const NormArgs& args, cudaStream_t stream);

// ---- rotary.cu ----

/// Contiguous x and out [rows, headDim]; the first rotaryDim channels rotate (HF rotate_half).
/// cos and sin are views broadcast to [rows..., rotaryDim]: `tables` walks the row axes (operand
/// 0: cos, 1: sin), `cosStride`/`sinStride` step along the channel.
struct RotaryArgs {
  const void* x;
  void* out;
  const void* cos;
  const void* sin;
  DType type;
  int64_t rows, headDim, rotaryDim;
  Indexer<2> tables;
  int64_t cosStride, sinStride;
};
void launchRotary(const RotaryArgs& args, cudaStream_t stream);

// ---- cross_entropy.cu ----

/// Per-row loss logsumexp(row) - row[target] of contiguous logits [rows, classes]; ignored rows
/// give 0 and do not count. `status` (device, one int, zeroed by the caller) receives
/// INT32_MAX - r for the first row r whose target is out of range (0 when all are in range).
/// `result` (device, the logits' dtype) receives the reduction: one value for sum and mean, or
/// one per row for none.
struct CrossEntropyArgs {
  const void* logits;
  DType type;
  const int32_t* targets;
  float* losses;     // workspace [rows] (sum and mean only)
  int32_t* counted;  // workspace [rows]: 1 where the row counts (sum and mean only)
  int32_t* status;
  void* result;
  int64_t rows, classes;
  int32_t ignoreIndex;
  int32_t reduction;  // 0 none, 1 sum, 2 mean
};
void launchCrossEntropy(const CrossEntropyArgs& args, cudaStream_t stream);

// ---- attention.cu ----

/// out [B, Hq, Tq, Dv] (contiguous) = softmax(q k^T * scale + mask) v per (batch, head), kv head
/// h / (Hq / Hkv). q, k, v have unit stride along their last axis and any other strides (a KV
/// cache's slice); the mask is broadcast to [B, Hq, Tq, Tk] (stride 0 where broadcast) or null.
/// With `causal`, query i sees keys j <= i + Tk - Tq. A row that sees no key outputs zeros.
struct AttentionArgs {
  const void* q;
  const void* k;
  const void* v;
  const void* mask;
  void* out;
  DType type;
  int64_t batch, queryHeads, kvHeads, queryLength, keyLength, depth, valueDepth;
  int64_t qStrides[3], kStrides[3], vStrides[3], maskStrides[4];
  float scale;
  bool causal;
};
void launchAttention(const AttentionArgs& args, cudaStream_t stream, int multiprocessors);

// ---- gemm.cu, gemm_simt.cu, gemv.cu: matmul ----

/// One matrix operand [batch, rows, cols]: rowStride/colStride in elements (one of them 1 for the
/// tensor-core path), batchStride between matrices (0 when broadcast).
struct MatrixOperand {
  const void* data;
  DType type;
  int64_t rowStride, colStride, batchStride;
};

/// c [batch, m, n] (contiguous, c's dtype) = a [batch, m, k] @ b [batch, k, n], accumulated in
/// f32. a and b are f32, f16 or bf16 (f32 a may multiply f16/bf16 b).
struct GemmArgs {
  MatrixOperand a, b;
  void* c;
  DType cType;
  int64_t batch, m, n, k;
};
void launchGemm(const GemmArgs& args, cudaStream_t stream, int multiprocessors);

// ---- quant.cu: GPTQ ----

/// A GPTQ-packed weight: gptq::Packed (common/gptq_packing.h), device pointers.
///
/// out [m, n] f32 = x [m, k] f32 (contiguous) @ W^T (+ bias [n]). `workspace` (f32, at least
/// planQuantMatmul(...).workspaceFloats elements, or null when that is 0) holds split-K partial
/// sums.
struct QuantMatmulArgs {
  gptq::Packed w;
  const float* x;
  const void* bias;
  DType biasType;
  float* out;
  int64_t m;
  float* workspace;
};
/// (The workspace size comes from planQuantMatmul in common/plans.h.)
void launchQuantMatmul(const QuantMatmulArgs& args, cudaStream_t stream, int multiprocessors);

/// out [n, k] f32 = W; gIdx [k] (i32, or null for k / groupSize) gives each channel's group.
struct DequantizeArgs {
  gptq::Packed w;
  const int32_t* gIdx;
  float* out;
};
void launchDequantize(const DequantizeArgs& args, cudaStream_t stream);

}  // namespace slimlm::cuda
