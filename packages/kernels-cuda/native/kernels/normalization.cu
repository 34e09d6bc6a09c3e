// softmax / logSoftmax along one axis, and rmsNorm / layerNorm over the last: one warp per row
// for short rows, a block of 256 threads for long ones. Statistics in f32 (max) and f64 (sums),
// each result rounded once to the tensor's dtype.
#include <cmath>

#include "common/launch.cuh"
#include "common/values.cuh"
#include "common/warp.cuh"
#include "kernels/kernels.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda {
namespace {

/// Rows handled by one block: 8 rows of a warp each, or one row of the whole block.
template <int ThreadsPerRow>
__device__ __forceinline__ int64_t rowOfThread() {
  return static_cast<int64_t>(blockIdx.x) * (kThreads / ThreadsPerRow) + threadIdx.x / ThreadsPerRow;
}

template <int ThreadsPerRow>
__global__ void __launch_bounds__(kThreads) softmaxKernel(SoftmaxArgs args) {
  constexpr int kWarps = ThreadsPerRow / 32;
  __shared__ float maxScratch[kWarps];
  __shared__ double sumScratch[kWarps];
  const int64_t rows = args.outer * args.inner;
  const int64_t row = rowOfThread<ThreadsPerRow>();
  if (ThreadsPerRow == 32 && row >= rows) return;
  const int lane = threadIdx.x % ThreadsPerRow;
  // Element j of the row is at base + j * inner.
  const int64_t base = (row / args.inner) * args.length * args.inner + row % args.inner;
  const int64_t step = args.inner;
  float m = -INFINITY;
  for (int64_t j = lane; j < args.length; j += ThreadsPerRow)
    m = fmaxf(m, loadAsFloat(args.x, args.type, base + j * step));
  m = blockMax<kWarps>(m, maxScratch);
  double s = 0.0;
  for (int64_t j = lane; j < args.length; j += ThreadsPerRow)
    s += exp(static_cast<double>(loadAsFloat(args.x, args.type, base + j * step)) - m);
  s = blockSum<kWarps>(s, sumScratch);
  const double shift = m + log(s);  // logSoftmax subtracts logsumexp
  for (int64_t j = lane; j < args.length; j += ThreadsPerRow) {
    const double x = loadAsFloat(args.x, args.type, base + j * step);
    const double v = args.log ? x - shift : exp(x - m) / s;
    storeFloat(args.out, args.type, base + j * step, static_cast<float>(v));
  }
}

template <int ThreadsPerRow>
__global__ void __launch_bounds__(kThreads) normKernel(NormArgs args) {
  constexpr int kWarps = ThreadsPerRow / 32;
  __shared__ double scratch[kWarps];
  const int64_t row = rowOfThread<ThreadsPerRow>();
  if (ThreadsPerRow == 32 && row >= args.rows) return;
  const int lane = threadIdx.x % ThreadsPerRow;
  const int64_t base = row * args.features;
  const double count = static_cast<double>(args.features);
  double mean = 0.0;
  if (args.layer) {
    double s = 0.0;
    for (int64_t j = lane; j < args.features; j += ThreadsPerRow) s += loadAsFloat(args.x, args.type, base + j);
    mean = blockSum<kWarps>(s, scratch) / count;
  }
  // Mean square about the mean (layerNorm) or about zero (rmsNorm).
  double squares = 0.0;
  for (int64_t j = lane; j < args.features; j += ThreadsPerRow) {
    const double d = loadAsFloat(args.x, args.type, base + j) - mean;
    squares += d * d;
  }
  const double inverse = 1.0 / sqrt(blockSum<kWarps>(squares, scratch) / count + args.eps);
  for (int64_t j = lane; j < args.features; j += ThreadsPerRow) {
    double v = (loadAsFloat(args.x, args.type, base + j) - mean) * inverse;
    if (args.weight != nullptr) v *= loadAsFloat(args.weight, args.type, j);
    if (args.bias != nullptr) v += loadAsFloat(args.bias, args.type, j);
    storeFloat(args.out, args.type, base + j, static_cast<float>(v));
  }
}

/// Launches `kernel` with a warp per row for short rows, a block per row for long ones.
template <typename Args>
void launchRows(void (*warpKernel)(Args), void (*blockKernel)(Args), const Args& args, int64_t rows,
                int64_t length, cudaStream_t stream) {
  if (length > 1024 || rows < 64) {
    blockKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(args);
  } else {
    const int64_t blocks = (rows + kThreads / 32 - 1) / (kThreads / 32);
    warpKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(args);
  }
}

}  // namespace

void launchSoftmax(const SoftmaxArgs& args, cudaStream_t stream) {
  const int64_t rows = args.outer * args.inner;
  if (rows == 0 || args.length == 0) return;
  launchRows(softmaxKernel<32>, softmaxKernel<kThreads>, args, rows, args.length, stream);
  checkLaunch(args.log ? "logSoftmax" : "softmax", stream);
}

void launchNorm(const NormArgs& args, cudaStream_t stream) {
  if (args.rows == 0 || args.features == 0) return;
  launchRows(normKernel<32>, normKernel<kThreads>, args, args.rows, args.features, stream);
  checkLaunch(args.layer ? "layerNorm" : "rmsNorm", stream);
}

}  // namespace slimlm::cuda
