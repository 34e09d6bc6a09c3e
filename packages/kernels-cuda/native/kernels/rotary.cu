// applyRotary (HF rotate_half): channel j < rotaryDim/2 becomes x_j cos_j - x_{j+half} sin_j, and
// channel half <= j < rotaryDim becomes x_j cos_j + x_{j-half} sin_j; the rest pass through.
#include "common/launch.cuh"
#include "common/values.cuh"
#include "kernels/kernels.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda {
namespace {

__global__ void rotaryKernel(RotaryArgs args) {
  const int64_t count = args.rows * args.headDim;
  const int64_t half = args.rotaryDim / 2;
  SLIMLM_GRID_STRIDE(i, count) {
    const int64_t j = i % args.headDim;
    const float x = loadAsFloat(args.x, args.type, i);
    if (j >= args.rotaryDim) {
      storeFloat(args.out, args.type, i, x);
      continue;
    }
    int64_t table[2];
    args.tables.offsets(i / args.headDim, table);
    const float c = loadAsFloat(args.cos, args.type, table[0] + j * args.cosStride);
    const float s = loadAsFloat(args.sin, args.type, table[1] + j * args.sinStride);
    const float rotated = j < half ? -loadAsFloat(args.x, args.type, i + half)
                                   : loadAsFloat(args.x, args.type, i - half);
    storeFloat(args.out, args.type, i, fmaf(x, c, rotated * s));
  }
}

}  // namespace

void launchRotary(const RotaryArgs& args, cudaStream_t stream) {
  const int64_t count = args.rows * args.headDim;
  if (count == 0) return;
  rotaryKernel<<<gridFor(count), kThreads, 0, stream>>>(args);
  checkLaunch("applyRotary", stream);
}

}  // namespace slimlm::cuda
