// crossEntropy: one warp per row computes logsumexp(row) - row[target] (online maximum, f64
// sums); sum and mean are then reduced by one block in row order, so the result does not depend
// on scheduling. Targets out of range are reported through `status` for the glue to throw.
#include <climits>
#include <cmath>

#include "common/launch.cuh"
#include "common/values.cuh"
#include "common/warp.cuh"
#include "kernels/kernels.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda {
namespace {

constexpr int kRowsPerBlock = kThreads / 32;

__global__ void __launch_bounds__(kThreads) rowLossKernel(CrossEntropyArgs args) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  if (row >= args.rows) return;
  const int lane = threadIdx.x % 32;
  const int32_t target = args.targets[row];
  const bool ignored = target == args.ignoreIndex;
  if (!ignored && (target < 0 || target >= args.classes)) {
    if (lane == 0) atomicMax(args.status, static_cast<int32_t>(INT32_MAX - row));
    return;
  }
  const int64_t base = row * args.classes;
  double loss = 0.0;
  if (!ignored) {
    // Online logsumexp per lane, then merged across the warp.
    float m = -INFINITY;
    double s = 0.0;
    for (int64_t j = lane; j < args.classes; j += 32) {
      const float v = loadAsFloat(args.logits, args.type, base + j);
      if (v > m) {
        s = (m == -INFINITY ? 0.0 : s * exp(static_cast<double>(m) - v)) + 1.0;
        m = v;
      } else if (v != -INFINITY) {
        s += exp(static_cast<double>(v) - m);
      }
    }
    const float rowMax = warpMax(m);
    s = m == -INFINITY ? 0.0 : s * exp(static_cast<double>(m) - rowMax);
    s = warpSum(s);
    loss = rowMax + log(s) - loadAsFloat(args.logits, args.type, base + target);
  }
  if (lane != 0) return;
  if (args.reduction == 0) {
    storeFloat(args.result, args.type, row, static_cast<float>(loss));
  } else {
    args.losses[row] = static_cast<float>(loss);
    args.counted[row] = ignored ? 0 : 1;
  }
}

/// One block: the sum of the losses (and for mean, divided by the rows that count).
__global__ void __launch_bounds__(kThreads) finishKernel(CrossEntropyArgs args) {
  __shared__ double scratch[kThreads / 32];
  double total = 0.0, counted = 0.0;
  for (int64_t row = threadIdx.x; row < args.rows; row += kThreads) {
    total += args.losses[row];
    counted += args.counted[row];
  }
  total = blockSum<kThreads / 32>(total, scratch);
  counted = blockSum<kThreads / 32>(counted, scratch);
  if (threadIdx.x == 0)
    storeFloat(args.result, args.type, 0, static_cast<float>(args.reduction == 1 ? total : total / counted));
}

}  // namespace

void launchCrossEntropy(const CrossEntropyArgs& args, cudaStream_t stream) {
  if (args.rows > 0) {
    const int64_t blocks = (args.rows + kRowsPerBlock - 1) / kRowsPerBlock;
    rowLossKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(args);
    checkLaunch("crossEntropy", stream);
  }
  if (args.reduction != 0) {
    finishKernel<<<1, kThreads, 0, stream>>>(args);
    checkLaunch("crossEntropy (reduction)", stream);
  }
}

}  // namespace slimlm::cuda
