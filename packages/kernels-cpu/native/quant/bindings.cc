// N-API bindings of the quantized-weight family: quantMatmul and dequantize (see quant/quant.h).
#include "quant/quant.h"
#include "runtime/bindings.h"
#include "runtime/runtime.h"

#include <string>

namespace slimlm {
namespace {

const QuantTable& table() {
  switch (activeIsa()) {
    case Isa::avx512: return avx512::quantTable();
    case Isa::avx2: return avx2::quantTable();
    default: return scalar::quantTable();
  }
}

int elementBytes(DType type) { return type == DType::f32 ? 4 : 2; }

const double* dimsOf(const Napi::CallbackInfo& info, size_t index, size_t count) {
  if (!info[index].IsTypedArray() || info[index].As<Napi::TypedArray>().ElementLength() < count) {
    throw Napi::TypeError::New(info.Env(), "dims must be a Float64Array of " + std::to_string(count) + " numbers");
  }
  return reinterpret_cast<const double*>(typedArrayData(info[index], "dims"));
}

/// The packed weight from (qweight, qzeros, scales) at info[first..first+2] and dims
/// [n, k, bits, groupSize, zeroOffset, scaleType, qweightOffset, qzerosOffset, scalesOffset].
PackedWeight packedWeight(const Napi::CallbackInfo& info, int first, const double* d) {
  auto at = [&](int index) { return static_cast<int64_t>(d[index]); };
  const auto scaleType = static_cast<DType>(at(5));
  return PackedWeight{
      at(0),
      at(1),
      static_cast<int32_t>(at(2)),
      at(3),
      static_cast<int32_t>(at(4)),
      reinterpret_cast<const int32_t*>(typedArrayData(info[first], "qweight")) + at(6),
      reinterpret_cast<const int32_t*>(typedArrayData(info[first + 1], "qzeros")) + at(7),
      typedArrayData(info[first + 2], "scales") + at(8) * elementBytes(scaleType),
      scaleType,
  };
}

/// quantMatmul(x, qweight, qzeros, scales, bias | null, out, dims, perm | null): dims = the packed
/// weight's 9 numbers (see packedWeight), then m, xOffset, biasType, biasOffset, outOffset,
/// int8Activations, permOffset. Returns -1, or the first i whose perm[i] is not in [0, k) (then
/// nothing is computed).
Napi::Value QuantMatmul(const Napi::CallbackInfo& info) {
  const double* d = dimsOf(info, 6, 16);
  QuantMatmulArgs args{};
  args.w = packedWeight(info, 1, d);
  args.m = static_cast<int64_t>(d[9]);
  args.x = reinterpret_cast<const float*>(typedArrayData(info[0], "x")) + static_cast<int64_t>(d[10]);
  args.biasType = static_cast<DType>(static_cast<int32_t>(d[11]));
  args.bias = info[4].IsNull() ? nullptr
                               : typedArrayData(info[4], "bias") + static_cast<int64_t>(d[12]) * elementBytes(args.biasType);
  args.out = reinterpret_cast<float*>(typedArrayData(info[5], "out")) + static_cast<int64_t>(d[13]);
  args.int8Activations = d[14] != 0;
  args.perm = nullptr;
  if (info.Length() > 7 && !info[7].IsNull()) {
    args.perm = reinterpret_cast<const int32_t*>(typedArrayData(info[7], "perm")) + static_cast<int64_t>(d[15]);
    for (int64_t i = 0; i < args.w.k; i++) {
      if (args.perm[i] < 0 || args.perm[i] >= args.w.k) return Napi::Number::New(info.Env(), static_cast<double>(i));
    }
  }
  table().quantMatmul(args, parallel());
  return Napi::Number::New(info.Env(), -1);
}

/// dequantize(qweight, qzeros, scales, gIdx | null, out, dims): dims = the packed weight's 9
/// numbers, then gIdxOffset, outOffset.
Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  const double* d = dimsOf(info, 5, 11);
  DequantizeArgs args{};
  args.w = packedWeight(info, 0, d);
  args.gIdx = info[3].IsNull() ? nullptr
                               : reinterpret_cast<const int32_t*>(typedArrayData(info[3], "gIdx")) + static_cast<int64_t>(d[9]);
  args.out = reinterpret_cast<float*>(typedArrayData(info[4], "out")) + static_cast<int64_t>(d[10]);
  table().dequantize(args, parallel());
  return info.Env().Undefined();
}

}  // namespace

void registerQuantBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("quantMatmul", Napi::Function::New(env, QuantMatmul));
  exports.Set("dequantize", Napi::Function::New(env, Dequantize));
}

}  // namespace slimlm
