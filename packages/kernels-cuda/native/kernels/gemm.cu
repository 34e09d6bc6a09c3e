// matmul: picks the kernel for a problem (planGemm) and checks the tensor cores can take it.
#include <cstdint>

#include "common/plans.h"
#include "kernels/gemm.h"

namespace slimlm::cuda {

namespace {
/// Whether the 16-byte chunks along an operand's contiguous axis start 16-byte aligned.
bool chunksAligned(const MatrixOperand& op, int64_t leadingStride) {
  return reinterpret_cast<uintptr_t>(op.data) % 16 == 0 && leadingStride % 8 == 0 &&
         op.batchStride % 8 == 0;
}
}  // namespace

bool tensorCoreLayout(const GemmArgs& args) {
  // a [m, k] is K-contiguous when its columns step by 1 (the kernel's test), else M-contiguous
  // if its rows do; b [k, n] is K-contiguous when its rows step by 1, else N-contiguous if its
  // columns do.
  const bool aK = args.a.colStride == 1, bK = args.b.rowStride == 1;
  if (!aK && args.a.rowStride != 1) return false;
  if (!bK && args.b.colStride != 1) return false;
  return chunksAligned(args.a, aK ? args.a.rowStride : args.a.colStride) &&
         chunksAligned(args.b, bK ? args.b.colStride : args.b.rowStride);
}

void launchGemm(const GemmArgs& args, cudaStream_t stream, int multiprocessors) {
  (void)multiprocessors;
  if (args.batch == 0 || args.m == 0 || args.n == 0) return;
  const bool half = (args.a.type == DType::f16 || args.a.type == DType::bf16) && args.a.type == args.b.type;
  const GemmPlan plan = planGemm(args.batch, args.m, args.n, args.k, half, half && tensorCoreLayout(args));
  switch (plan.kind) {
    case GemmKind::gemv: launchGemv(args, stream); break;
    case GemmKind::tensorCore: launchTensorCoreGemm(args, plan, stream); break;
    case GemmKind::simt: launchSimtGemm(args, plan, stream); break;
  }
}

}  // namespace slimlm::cuda
