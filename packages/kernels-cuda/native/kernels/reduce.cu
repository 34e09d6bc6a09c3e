// Reductions over any set of axes: sum, mean, max, min, argmax, logsumexp. One warp per output
// when the reduced extent is small, a block of 256 threads when it is large. Sums accumulate in
// f64 (reductions are bound by memory, not arithmetic), maxima in f32 with NaN winning.
#include <cfloat>
#include <cmath>

#include "common/launch.cuh"
#include "common/values.cuh"
#include "common/warp.cuh"
#include "kernels/kernels.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda {
namespace {

/// What one thread has seen: a sum (sum, mean), the best value and its first index (max, min,
/// argmax), or a running maximum with the sum of exp(x - maximum) (logsumexp).
struct Partial {
  double sum;
  float best;
  int64_t index;
};

__device__ __forceinline__ bool isNan(float v) { return v != v; }

/// Whether (v, i) beats the best so far: NaN beats everything (the first NaN stays), then larger
/// values (smaller for min), then the smaller index.
__device__ __forceinline__ bool beats(ReduceOp op, float v, int64_t i, float best, int64_t bestIndex) {
  if (isNan(best)) return isNan(v) && i < bestIndex;
  if (isNan(v)) return true;
  if (v == best) return i < bestIndex;
  return op == ReduceOp::min ? v < best : v > best;
}

__device__ __forceinline__ Partial emptyPartial(ReduceOp op) {
  const float start = op == ReduceOp::min ? INFINITY : -INFINITY;
  return Partial{0.0, start, INT64_MAX};
}

__device__ __forceinline__ void add(ReduceOp op, Partial& p, float v, int64_t i) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::mean: p.sum += v; break;
    case ReduceOp::logsumexp:
      // Online: keep exp-sums relative to the running maximum.
      if (isNan(v) || isNan(p.best)) { p.best = NAN; break; }
      if (v > p.best) {
        p.sum = p.best == -INFINITY ? 1.0 : p.sum * exp(static_cast<double>(p.best) - v) + 1.0;
        p.best = v;
      } else if (v != -INFINITY) {
        p.sum += exp(static_cast<double>(v) - p.best);
      }
      break;
    default:
      if (beats(op, v, i, p.best, p.index)) { p.best = v; p.index = i; }
      break;
  }
}

__device__ __forceinline__ Partial merge(ReduceOp op, Partial a, const Partial& b) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::mean: a.sum += b.sum; return a;
    case ReduceOp::logsumexp: {
      if (isNan(a.best) || isNan(b.best)) return Partial{0.0, NAN, 0};
      if (b.best == -INFINITY) return a;
      if (a.best == -INFINITY) return b;
      const float m = fmaxf(a.best, b.best);
      if (m == INFINITY) return Partial{1.0, INFINITY, 0};
      return Partial{a.sum * exp(static_cast<double>(a.best) - m) + b.sum * exp(static_cast<double>(b.best) - m), m, 0};
    }
    default: return beats(op, b.best, b.index, a.best, a.index) ? b : a;
  }
}

__device__ __forceinline__ Partial shuffleXorPartial(const Partial& p, int offset) {
  return Partial{shuffleXor(p.sum, offset), shuffleXor(p.best, offset), shuffleXor(p.index, offset)};
}

__device__ __forceinline__ Partial warpMerge(ReduceOp op, Partial p) {
  for (int offset = 16; offset > 0; offset >>= 1) p = merge(op, p, shuffleXorPartial(p, offset));
  return p;
}

/// Threads per output: 32 (a warp each, 8 outputs per block) or 256 (a block each).
template <int ThreadsPerOutput>
__global__ void __launch_bounds__(kThreads) reduceKernel(ReduceArgs args) {
  constexpr int kWarps = ThreadsPerOutput / 32;
  constexpr int kOutputsPerBlock = kThreads / ThreadsPerOutput;
  __shared__ Partial scratch[kWarps];
  const int64_t outputs = args.outerLayout.size();
  const int64_t inner = args.innerLayout.size();
  const int lane = threadIdx.x % ThreadsPerOutput;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * kOutputsPerBlock + threadIdx.x / ThreadsPerOutput;
  // With a block per output every thread reaches the barriers below; with a warp per output a
  // whole warp is either in range or not.
  if (kOutputsPerBlock > 1 && o >= outputs) return;
  int64_t base[1];
  args.outerLayout.offsets(o < outputs ? o : 0, base);
  Partial p = emptyPartial(args.op);
  for (int64_t j = lane; j < inner; j += ThreadsPerOutput) {
    int64_t at[1];
    args.innerLayout.offsets(j, at);
    add(args.op, p, loadAsFloat(args.x, args.xType, base[0] + at[0]), j);
  }
  p = warpMerge(args.op, p);
  if constexpr (kWarps > 1) {
    if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = p;
    __syncthreads();
    if (threadIdx.x >= 32) return;
    p = threadIdx.x < kWarps ? scratch[threadIdx.x] : emptyPartial(args.op);
    p = warpMerge(args.op, p);
  }
  if (lane != 0 || o >= outputs) return;
  switch (args.op) {
    case ReduceOp::sum: storeFloat(args.out, args.outType, o, static_cast<float>(p.sum)); break;
    case ReduceOp::mean:
      storeFloat(args.out, args.outType, o, static_cast<float>(p.sum / static_cast<double>(inner)));
      break;
    case ReduceOp::argmax: static_cast<int32_t*>(args.out)[o] = static_cast<int32_t>(p.index); break;
    case ReduceOp::logsumexp: {
      const float v = isNan(p.best) || p.best == -INFINITY || p.best == INFINITY
                          ? p.best
                          : static_cast<float>(p.best + log(p.sum));
      storeFloat(args.out, args.outType, o, v);
      break;
    }
    default: storeFloat(args.out, args.outType, o, p.best); break;
  }
}

}  // namespace

void launchReduce(const ReduceArgs& args, cudaStream_t stream) {
  const int64_t outputs = args.outerLayout.size();
  if (outputs == 0) return;
  // A block per output pays off once each output reads many elements, or there are few outputs.
  const bool wide = args.innerLayout.size() >= 4096 || outputs < 64;
  if (wide) {
    reduceKernel<kThreads><<<static_cast<unsigned>(outputs), kThreads, 0, stream>>>(args);
  } else {
    const int64_t blocks = (outputs + kThreads / 32 - 1) / (kThreads / 32);
    reduceKernel<32><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(args);
  }
  checkLaunch("reduce", stream);
}

}  // namespace slimlm::cuda
