// Products with few rows of A (GEMV, skinny GEMM): memory-bound or nearly, so they read B once
// from its storage without packing it.
#pragma once

#include "gemm/gemm.h"

namespace slimlm {
namespace SLIMLM_ISA {

/// Computes `args` when A has few rows per batch and B a unit stride along K (B = W^T for a
/// weight W [n, k]: each output is a dot product over contiguous memory; up to a few dozen rows)
/// or along N (rows of B scaled and added; up to four rows); returns false, having done nothing,
/// for other shapes and layouts, which the packed GEMM takes.
bool gemv(const GemmArgs& args, const Parallel& parallel);

}  // namespace SLIMLM_ISA
}  // namespace slimlm
