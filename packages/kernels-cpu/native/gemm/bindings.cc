#include "gemm/gemm.h"

#include "runtime/bindings.h"
#include "runtime/runtime.h"

namespace slimlm {
namespace {

const GemmTable& table() {
  switch (activeIsa()) {
    case Isa::avx512: return avx512::gemmTable();
    case Isa::avx2: return avx2::gemmTable();
    default: return scalar::gemmTable();
  }
}

int elementBytes(DType type) { return type == DType::f32 ? 4 : 2; }

/// gemm(a, b, c, dims): dims = [batch, m, n, k, aType, aOffset, aRowStride, aColStride,
/// aBatchStride, bType, bOffset, bRowStride, bColStride, bBatchStride, cType, cOffset,
/// cBatchStride]; types are DType codes, offsets and strides in elements.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  const auto* d = reinterpret_cast<const double*>(typedArrayData(info[3], "dims"));
  auto at = [&](int index) { return static_cast<int64_t>(d[index]); };
  const auto aType = static_cast<DType>(at(4));
  const auto bType = static_cast<DType>(at(9));
  const auto cType = static_cast<DType>(at(14));
  const GemmArgs args{
      at(0), at(1), at(2), at(3),
      Matrix{typedArrayData(info[0], "a") + at(5) * elementBytes(aType), aType, at(6), at(7), at(8)},
      Matrix{typedArrayData(info[1], "b") + at(10) * elementBytes(bType), bType, at(11), at(12), at(13)},
      typedArrayData(info[2], "c") + at(15) * elementBytes(cType), cType, at(16),
  };
  table().gemm(args, parallel());
  return info.Env().Undefined();
}

}  // namespace

void registerGemmBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm));
}

}  // namespace slimlm
