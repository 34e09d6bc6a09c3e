// The N-API functions of the linear algebra family (native/linalg/linalg.h). Each takes the
// input's and the output's typed arrays and a Float64Array
// dims = [n, upper, inputOffset, inputRowStride, inputColStride, outputOffset] (elements); the
// output is a contiguous n x n f32 matrix.
#include "linalg/linalg.h"
#include "runtime/bindings.h"
#include "runtime/runtime.h"

namespace slimlm {
namespace {

const LinalgTable& table() {
  switch (activeIsa()) {
    case Isa::avx512: return avx512::linalgTable();
    case Isa::avx2: return avx2::linalgTable();
    default: return scalar::linalgTable();
  }
}

struct Call {
  SquareInput input;
  bool upper;
  float* out;
};

Call parse(const Napi::CallbackInfo& info) {
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().ElementLength() < 6)
    throw Napi::TypeError::New(info.Env(), "dims must be a Float64Array of 6 numbers");
  const auto* d = reinterpret_cast<const double*>(typedArrayData(info[2], "dims"));
  auto at = [&](int index) { return static_cast<int64_t>(d[index]); };
  const auto* input = reinterpret_cast<const float*>(typedArrayData(info[0], "input")) + at(2);
  auto* out = reinterpret_cast<float*>(typedArrayData(info[1], "out")) + at(5);
  return Call{SquareInput{input, at(0), at(3), at(4)}, d[1] != 0, out};
}

/// cholesky(input, out, dims): null when the input is positive definite, else
/// [pivot index, pivot value] for the first pivot that is not > 0 (out then holds garbage).
Napi::Value Cholesky(const Napi::CallbackInfo& info) {
  const Call call = parse(info);
  const CholeskyStatus status = table().cholesky(call.input, call.upper, call.out, parallel());
  if (status.pivot < 0) return info.Env().Null();
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(status.pivot)));
  result.Set(1u, Napi::Number::New(info.Env(), status.value));
  return result;
}

/// choleskyInverse(factor, out, dims): out = A⁻¹ for A = L Lᵀ (or Uᵀ U when upper).
Napi::Value CholeskyInverse(const Napi::CallbackInfo& info) {
  const Call call = parse(info);
  table().choleskyInverse(call.input, call.upper, call.out, parallel());
  return info.Env().Undefined();
}

}  // namespace

void registerLinalgBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("cholesky", Napi::Function::New(env, Cholesky));
  exports.Set("choleskyInverse", Napi::Function::New(env, CholeskyInverse));
}

}  // namespace slimlm
