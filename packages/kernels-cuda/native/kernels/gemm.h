// The matmul kernels behind launchGemm (gemm.cu picks one with planGemm).
#pragma once

#include "common/plans.h"
#include "kernels/kernels.h"

namespace slimlm::cuda {

/// f16/bf16 operands whose 16-byte chunks are aligned (see gemm_tensor_core.cu).
void launchTensorCoreGemm(const GemmArgs& args, const GemmPlan& plan, cudaStream_t stream);
/// Any dtypes and strides, f32 FMAs.
void launchSimtGemm(const GemmArgs& args, const GemmPlan& plan, cudaStream_t stream);
/// m <= 8: one pass over b.
void launchGemv(const GemmArgs& args, cudaStream_t stream);

/// Whether every 16-byte chunk cp.async would move is aligned: one unit stride per operand, the
/// other stride and the batch stride multiples of 8 elements, the address 16-byte aligned.
bool tensorCoreLayout(const GemmArgs& args);

}  // namespace slimlm::cuda
