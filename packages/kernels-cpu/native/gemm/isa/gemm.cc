// GEMM over strided f32/f16/bf16 operands. This first version is simple and correct: each task
// takes a block of output rows and reads its operands through their strides.
#include "gemm/gemm.h"
#include "slimlm/half.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

inline float load(const Matrix& m, int64_t index) {
  switch (m.dtype) {
    case DType::f16: return f16ToF32(static_cast<const uint16_t*>(m.data)[index]);
    case DType::bf16: return bf16ToF32(static_cast<const uint16_t*>(m.data)[index]);
    default: return static_cast<const float*>(m.data)[index];
  }
}

inline void store(void* c, DType type, int64_t index, float value) {
  switch (type) {
    case DType::f16: static_cast<uint16_t*>(c)[index] = f32ToF16(value); break;
    case DType::bf16: static_cast<uint16_t*>(c)[index] = f32ToBf16(value); break;
    default: static_cast<float*>(c)[index] = value;
  }
}

void rows(void* ctx, int64_t begin, int64_t end) {
  const GemmArgs& g = *static_cast<const GemmArgs*>(ctx);
  for (int64_t task = begin; task < end; task++) {
    const int64_t batch = task / g.m;
    const int64_t i = task % g.m;
    for (int64_t j = 0; j < g.n; j++) {
      float total = 0;
      for (int64_t p = 0; p < g.k; p++) {
        total += load(g.a, batch * g.a.batchStride + i * g.a.rowStride + p * g.a.colStride) *
                 load(g.b, batch * g.b.batchStride + p * g.b.rowStride + j * g.b.colStride);
      }
      store(g.c, g.cType, batch * g.cBatchStride + i * g.n + j, total);
    }
  }
}

}  // namespace

void gemm(const GemmArgs& args, const Parallel& parallel) {
  parallel(args.batch * args.m, 1, rows, const_cast<GemmArgs*>(&args));
}

const GemmTable& gemmTable() {
  static const GemmTable table = {gemm};
  return table;
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
