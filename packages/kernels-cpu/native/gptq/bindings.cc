// The N-API functions of the GPTQ family (native/gptq/gptq.h):
// gptqQuantizeBlock(w, hinv, scales, zeros, params, q, err, losses, codes, dims) with
// dims = [rows, cols, paramRows, maxq, then the nine arrays' offsets in elements, in that order];
// gptqRtnQuantize(w, codes, q, scales, zeros, losses, dims) with dims = [rows, cols, groupSize,
// maxq, sym, then the six arrays' offsets]; gptqPackCodes(codes, words, dims) with dims = [n, k,
// bits, codesOffset, wordsOffset]; it returns false when a code does not fit.
#include "gptq/gptq.h"
#include "runtime/bindings.h"
#include "runtime/runtime.h"

#include <string>

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

const RtnTable& rtnTable() {
  switch (activeIsa()) {
    case Isa::avx512: return avx512::rtnTable();
    case Isa::avx2: return avx2::rtnTable();
    default: return scalar::rtnTable();
  }
}

const double* dimsOf(const Napi::CallbackInfo& info, size_t index, size_t count) {
  if (!info[index].IsTypedArray() || info[index].As<Napi::TypedArray>().ElementLength() < count)
    throw Napi::TypeError::New(info.Env(), "dims must be a Float64Array of " + std::to_string(count) + " numbers");
  return reinterpret_cast<const double*>(typedArrayData(info[index], "dims"));
}

Napi::Value RtnQuantize(const Napi::CallbackInfo& info) {
  const double* d = dimsOf(info, 6, 11);
  auto at = [&](int index) { return static_cast<int64_t>(d[index]); };
  auto data = [&](int arg, const char* name) { return typedArrayData(info[arg], name); };
  const RtnArgs args{
      at(0), at(1), at(2), static_cast<float>(d[3]), d[4] != 0,
      reinterpret_cast<const float*>(data(0, "w")) + at(5),
      data(1, "codes") + at(6),
      reinterpret_cast<float*>(data(2, "q")) + at(7),
      reinterpret_cast<float*>(data(3, "scales")) + at(8),
      reinterpret_cast<float*>(data(4, "zeros")) + at(9),
      reinterpret_cast<double*>(data(5, "losses")) + at(10),
  };
  rtnTable().rtnQuantize(args, parallel());
  return info.Env().Undefined();
}

Napi::Value PackCodes(const Napi::CallbackInfo& info) {
  const double* d = dimsOf(info, 2, 5);
  auto at = [&](int index) { return static_cast<int64_t>(d[index]); };
  int32_t overflow = 0;
  const PackCodesArgs args{
      at(0), at(1), static_cast<int32_t>(at(2)),
      typedArrayData(info[0], "codes") + at(3),
      reinterpret_cast<int32_t*>(typedArrayData(info[1], "words")) + at(4),
      &overflow,
  };
  rtnTable().packCodes(args, parallel());
  return Napi::Boolean::New(info.Env(), overflow == 0);
}

}  // namespace

void registerGptqBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("gptqQuantizeBlock", Napi::Function::New(env, QuantizeBlock));
  exports.Set("gptqRtnQuantize", Napi::Function::New(env, RtnQuantize));
  exports.Set("gptqPackCodes", Napi::Function::New(env, PackCodes));
}

}  // namespace slimlm
