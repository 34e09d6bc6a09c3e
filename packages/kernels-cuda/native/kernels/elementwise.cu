// Elementwise kernels over strided operands: map (arithmetic, math functions, comparisons,
// casts), copy, fill, select (where, maskedFill), gather and scatterAdd.

#include "common/launch.cuh"
#include "common/values.cuh"
#include "kernels/kernels.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda {
namespace {

__device__ __forceinline__ bool isNan(float v) { return v != v; }

/// op(a, b) in f32. NaN handling follows the reference backend: maximum/minimum and clamp let
/// NaN through, comparisons with NaN are false (notEqual true).
__device__ __forceinline__ float applyFloat(MapOp op, float a, float b, float p0, float p1) {
  constexpr float kSqrtHalf = 0.70710678118654752440f;
  constexpr float kSqrt2OverPi = 0.79788456080286535588f;
  switch (op) {
    case MapOp::identity: return a;
    case MapOp::add: return a + b;
    case MapOp::sub: return a - b;
    case MapOp::mul: return a * b;
    case MapOp::div: return a / b;
    case MapOp::neg: return -a;
    case MapOp::exp: return expf(a);
    case MapOp::log: return logf(a);
    case MapOp::sqrt: return sqrtf(a);
    case MapOp::rsqrt: return 1.0f / sqrtf(a);
    case MapOp::tanh: return tanhf(a);
    case MapOp::sigmoid: return 1.0f / (1.0f + expf(-a));
    case MapOp::silu: return a / (1.0f + expf(-a));
    case MapOp::geluErf: return 0.5f * a * (1.0f + erff(a * kSqrtHalf));
    case MapOp::geluTanh:
      return 0.5f * a * (1.0f + tanhf(kSqrt2OverPi * (a + 0.044715f * a * a * a)));
    case MapOp::relu: return a > 0.0f || isNan(a) ? a : 0.0f;
    case MapOp::square: return a * a;
    case MapOp::maximum: return isNan(a) || isNan(b) ? a + b : fmaxf(a, b);
    case MapOp::minimum: return isNan(a) || isNan(b) ? a + b : fminf(a, b);
    case MapOp::abs: return fabsf(a);
    case MapOp::clamp: return isNan(a) ? a : fminf(fmaxf(a, p0), p1);
    case MapOp::erf: return erff(a);
    case MapOp::sin: return sinf(a);
    case MapOp::cos: return cosf(a);
    case MapOp::pow: return powf(a, b);
    case MapOp::equal: return a == b ? 1.0f : 0.0f;
    case MapOp::notEqual: return a != b ? 1.0f : 0.0f;
    case MapOp::greater: return a > b ? 1.0f : 0.0f;
    case MapOp::greaterEqual: return a >= b ? 1.0f : 0.0f;
    case MapOp::less: return a < b ? 1.0f : 0.0f;
    case MapOp::lessEqual: return a <= b ? 1.0f : 0.0f;
    case MapOp::logicalNot: return a == 0.0f ? 1.0f : 0.0f;
  }
  return a;
}

/// op(a, b) on integers, wrapping like C's unsigned arithmetic. The glue sends only the ops
/// listed in src/kernels/elementwise.ts INTEGER_OPS here.
__device__ __forceinline__ int32_t applyInt(MapOp op, int32_t a, int32_t b, int32_t p0, int32_t p1) {
  const uint32_t ua = static_cast<uint32_t>(a), ub = static_cast<uint32_t>(b);
  switch (op) {
    case MapOp::add: return static_cast<int32_t>(ua + ub);
    case MapOp::sub: return static_cast<int32_t>(ua - ub);
    case MapOp::mul: return static_cast<int32_t>(ua * ub);
    case MapOp::neg: return static_cast<int32_t>(0u - ua);
    case MapOp::abs: return a < 0 ? static_cast<int32_t>(0u - ua) : a;
    case MapOp::square: return static_cast<int32_t>(ua * ua);
    case MapOp::maximum: return a > b ? a : b;
    case MapOp::minimum: return a < b ? a : b;
    case MapOp::clamp: return a < p0 ? p0 : (a > p1 ? p1 : a);
    case MapOp::equal: return a == b;
    case MapOp::notEqual: return a != b;
    case MapOp::greater: return a > b;
    case MapOp::greaterEqual: return a >= b;
    case MapOp::less: return a < b;
    case MapOp::lessEqual: return a <= b;
    case MapOp::logicalNot: return a == 0;
    default: return a;  // identity (integer casts)
  }
}

__global__ void mapFloatKernel(MapArgs args) {
  const int64_t count = args.layout.size();
  const float p0 = args.params[0], p1 = args.params[1];
  SLIMLM_GRID_STRIDE(i, count) {
    int64_t at[3];
    args.layout.offsets(i, at);
    const float a = loadAsFloat(args.a, args.aType, at[1]);
    const float b = args.arity > 1 ? loadAsFloat(args.b, args.bType, at[2]) : 0.0f;
    const float v = applyFloat(args.op, a, b, p0, p1);
    // Float to u8 goes through int32, so that it wraps as C's conversions do on the host.
    if (args.outType == DType::u8)
      storeInt(args.out, DType::u8, at[0], static_cast<int32_t>(v));
    else
      storeFloat(args.out, args.outType, at[0], v);
  }
}

__global__ void mapIntKernel(MapArgs args) {
  const int64_t count = args.layout.size();
  const int32_t p0 = static_cast<int32_t>(args.params[0]);
  const int32_t p1 = static_cast<int32_t>(args.params[1]);
  SLIMLM_GRID_STRIDE(i, count) {
    int64_t at[3];
    args.layout.offsets(i, at);
    const int32_t a = loadAsInt(args.a, args.aType, at[1]);
    const int32_t b = args.arity > 1 ? loadAsInt(args.b, args.bType, at[2]) : 0;
    const int32_t v = applyInt(args.op, a, b, p0, p1);
    if (isFloat(args.outType)) storeFloat(args.out, args.outType, at[0], static_cast<float>(v));
    else storeInt(args.out, args.outType, at[0], v);
  }
}

template <typename T>
__global__ void copyKernel(CopyArgs args) {
  const int64_t count = args.layout.size();
  const T* src = static_cast<const T*>(args.src);
  T* dst = static_cast<T*>(args.dst);
  SLIMLM_GRID_STRIDE(i, count) {
    int64_t at[2];
    args.layout.offsets(i, at);
    dst[at[0]] = src[at[1]];
  }
}

template <typename T>
__global__ void fillKernel(T* dst, int64_t count, T value) {
  SLIMLM_GRID_STRIDE(i, count) dst[i] = value;
}

template <typename T>
__global__ void selectKernel(SelectArgs args) {
  const int64_t count = args.layout.size();
  const T value = static_cast<T>(args.aValue);
  SLIMLM_GRID_STRIDE(i, count) {
    int64_t at[4];
    args.layout.offsets(i, at);
    const bool pick = args.cond[at[1]] != 0;
    T v;
    if (pick) v = args.aIsValue ? value : static_cast<const T*>(args.a)[at[2]];
    else v = static_cast<const T*>(args.b)[at[3]];
    static_cast<T*>(args.out)[at[0]] = v;
  }
}

template <typename T>
__global__ void gatherKernel(GatherArgs args) {
  const int64_t count = args.outer * args.count * args.inner;
  const T* x = static_cast<const T*>(args.x);
  T* out = static_cast<T*>(args.out);
  SLIMLM_GRID_STRIDE(i, count) {
    const int64_t r = i % args.inner;
    const int64_t row = i / args.inner;
    const int64_t j = row % args.count;
    const int64_t o = row / args.count;
    out[i] = x[(o * args.axisSize + args.indices[j]) * args.inner + r];
  }
}

__device__ __forceinline__ void atomicAddAs(void* out, DType type, int64_t i, float v) {
  switch (type) {
    case DType::f16: atomicAddHalf(static_cast<half*>(out) + i, v); break;
    case DType::bf16: atomicAddBf16(static_cast<bfloat16*>(out) + i, v); break;
    default: atomicAdd(static_cast<float*>(out) + i, v); break;
  }
}

__global__ void scatterAddKernel(ScatterAddArgs args) {
  const int64_t count = args.outer * args.count * args.inner;
  SLIMLM_GRID_STRIDE(i, count) {
    const int64_t r = i % args.inner;
    const int64_t row = i / args.inner;
    const int64_t j = row % args.count;
    const int64_t o = row / args.count;
    const int64_t target = (o * args.axisSize + args.indices[j]) * args.inner + r;
    atomicAddAs(args.out, args.type, target, loadAsFloat(args.updates, args.type, i));
  }
}

/// Runs `launch` with the unsigned type of an element's size (1, 2 or 4 bytes).
template <typename Launch>
void byElementSize(int32_t bytes, Launch&& launch) {
  switch (bytes) {
    case 1: launch(uint8_t{}); break;
    case 2: launch(uint16_t{}); break;
    default: launch(uint32_t{}); break;
  }
}

}  // namespace

void launchMap(const MapArgs& args, cudaStream_t stream) {
  const int64_t count = args.layout.size();
  if (count == 0) return;
  if (isFloat(args.aType)) {
    mapFloatKernel<<<gridFor(count), kThreads, 0, stream>>>(args);
    checkLaunch("map", stream);
  } else {
    mapIntKernel<<<gridFor(count), kThreads, 0, stream>>>(args);
    checkLaunch("map (integer)", stream);
  }
}

void launchCopy(const CopyArgs& args, cudaStream_t stream) {
  const int64_t count = args.layout.size();
  if (count == 0) return;
  if (args.layout.rank == 1 && args.layout.strides[0][0] == 1 && args.layout.strides[1][0] == 1) {
    check(cudaMemcpyAsync(args.dst, args.src, count * args.elementBytes, cudaMemcpyDeviceToDevice,
                          stream),
          "copy (cudaMemcpyAsync)");
    return;
  }
  byElementSize(args.elementBytes, [&](auto type) {
    copyKernel<decltype(type)><<<gridFor(count), kThreads, 0, stream>>>(args);
  });
  checkLaunch("copy", stream);
}

void launchFill(const FillArgs& args, cudaStream_t stream) {
  if (args.count == 0) return;
  byElementSize(args.elementBytes, [&](auto type) {
    using T = decltype(type);
    fillKernel<T><<<gridFor(args.count), kThreads, 0, stream>>>(
        static_cast<T*>(args.dst), args.count, static_cast<T>(args.bits));
  });
  checkLaunch("fill", stream);
}

void launchSelect(const SelectArgs& args, cudaStream_t stream) {
  const int64_t count = args.layout.size();
  if (count == 0) return;
  byElementSize(args.elementBytes, [&](auto type) {
    selectKernel<decltype(type)><<<gridFor(count), kThreads, 0, stream>>>(args);
  });
  checkLaunch("select", stream);
}

void launchGather(const GatherArgs& args, cudaStream_t stream) {
  const int64_t count = args.outer * args.count * args.inner;
  if (count == 0) return;
  byElementSize(args.elementBytes, [&](auto type) {
    gatherKernel<decltype(type)><<<gridFor(count), kThreads, 0, stream>>>(args);
  });
  checkLaunch("gather", stream);
}

void launchScatterAdd(const ScatterAddArgs& args, cudaStream_t stream) {
  const int64_t count = args.outer * args.count * args.inner;
  if (count == 0) return;
  scatterAddKernel<<<gridFor(count), kThreads, 0, stream>>>(args);
  checkLaunch("scatterAdd", stream);
}

}  // namespace slimlm::cuda
