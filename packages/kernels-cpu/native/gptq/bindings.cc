// The N-API function of the GPTQ family (native/gptq/gptq.h):
// gptqQuantizeBlock(w, hinv, scales, zeros, params, q, err, losses, codes, dims) with
// dims = [rows, cols, paramRows, maxq, then the nine arrays' offsets in elements, in that order].
#include "gptq/gptq.h"
#include "runtime/bindings.h"
#include "runtime/runtime.h"

namespace slimlm {
namespace {

const GptqTable& table() {
  switch (activeIsa()) {
    case Isa::avx512: return avx512::gptqTable();
    case Isa::avx2: return avx2::gptqTable();
    default: return scalar::gptqTable();
  }
}

Napi::Value QuantizeBlock(const Napi::CallbackInfo& info) {
  if (!info[9].IsTypedArray() || info[9].As<Napi::TypedArray>().ElementLength() < 13)
    throw Napi::TypeError::New(info.Env(), "dims must be a Float64Array of 13 numbers");
  const auto* d = reinterpret_cast<const double*>(typedArrayData(info[9], "dims"));
  auto at = [&](int index) { return static_cast<int64_t>(d[index]); };
  auto f32 = [&](int arg, const char* name) {
    return reinterpret_cast<float*>(typedArrayData(info[arg], name)) + at(4 + arg);
  };
  const GptqBlockArgs args{
      at(0), at(1), at(2), static_cast<float>(d[3]),
      f32(0, "w"), f32(1, "hinv"), f32(2, "scales"), f32(3, "zeros"),
      reinterpret_cast<const int32_t*>(typedArrayData(info[4], "params")) + at(8),
      f32(5, "q"), f32(6, "err"), f32(7, "losses"),
      typedArrayData(info[8], "codes") + at(12),
  };
  table().quantizeBlock(args, parallel());
  return info.Env().Undefined();
}

}  // namespace

void registerGptqBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("gptqQuantizeBlock", Napi::Function::New(env, QuantizeBlock));
}

}  // namespace slimlm
