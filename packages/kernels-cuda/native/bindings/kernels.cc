// The kernels' bindings: each takes one object of named fields (built by src/kernels/*.ts),
// fills the kernel's arguments struct and queues the launch on the device's stream.
#include <napi.h>

#include <climits>

#include "bindings/bindings.h"
#include "bindings/js.h"
#include "common/plans.h"
#include "kernels/kernels.h"
#include "runtime/device.h"

namespace slimlm::cuda {
namespace {

using js::dtype;
using js::flag;
using js::integer;
using js::number;
using js::pointer;

Napi::Object argument(const Napi::CallbackInfo& info) { return info[0].As<Napi::Object>(); }
cudaStream_t stream() { return device().stream(); }
int multiprocessors() { return device().info().multiprocessors; }

/// Device memory for one call's temporaries, returned to the cache when the call ends (the
/// stream orders any later reuse after the kernels queued here).
class Scratch {
 public:
  explicit Scratch(size_t bytes) : block_(device().allocate(bytes)) {}
  ~Scratch() { device().free(block_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as(size_t byteOffset = 0) const {
    return reinterpret_cast<T*>(static_cast<char*>(block_) + byteOffset);
  }

 private:
  void* block_;
};

Napi::Value map(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  MapArgs a{};
  a.op = static_cast<MapOp>(integer(o, "op"));
  a.arity = static_cast<int32_t>(integer(o, "arity"));
  a.params[0] = number(o, "param0");
  a.params[1] = number(o, "param1");
  a.layout = js::indexer<3>(o, "layout");
  a.out = pointer(o, "out");
  a.outType = dtype(o, "outType");
  a.a = pointer(o, "a");
  a.aType = dtype(o, "aType");
  a.b = pointer(o, "b");
  a.bType = a.arity > 1 ? dtype(o, "bType") : a.aType;
  launchMap(a, stream());
  return info.Env().Undefined();
}

Napi::Value copy(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  CopyArgs a{};
  a.layout = js::indexer<2>(o, "layout");
  a.dst = pointer(o, "dst");
  a.src = pointer(o, "src");
  a.elementBytes = static_cast<int32_t>(integer(o, "elementBytes"));
  launchCopy(a, stream());
  return info.Env().Undefined();
}

Napi::Value fill(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  FillArgs a{};
  a.dst = pointer(o, "dst");
  a.count = integer(o, "count");
  a.elementBytes = static_cast<int32_t>(integer(o, "elementBytes"));
  a.bits = static_cast<uint32_t>(number(o, "bits"));
  launchFill(a, stream());
  return info.Env().Undefined();
}

Napi::Value select(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  SelectArgs a{};
  a.layout = js::indexer<4>(o, "layout");
  a.out = pointer(o, "out");
  a.cond = static_cast<const uint8_t*>(pointer(o, "cond"));
  a.a = pointer(o, "a");
  a.b = pointer(o, "b");
  a.elementBytes = static_cast<int32_t>(integer(o, "elementBytes"));
  a.aIsValue = a.a == nullptr;
  a.aValue = a.aIsValue ? static_cast<uint32_t>(number(o, "aBits")) : 0;
  launchSelect(a, stream());
  return info.Env().Undefined();
}

Napi::Value gather(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  GatherArgs a{};
  a.x = pointer(o, "x");
  a.indices = static_cast<const int32_t*>(pointer(o, "indices"));
  a.out = pointer(o, "out");
  a.outer = integer(o, "outer");
  a.axisSize = integer(o, "axisSize");
  a.inner = integer(o, "inner");
  a.count = integer(o, "count");
  a.elementBytes = static_cast<int32_t>(integer(o, "elementBytes"));
  launchGather(a, stream());
  return info.Env().Undefined();
}

Napi::Value scatterAdd(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  ScatterAddArgs a{};
  a.out = pointer(o, "out");
  a.indices = static_cast<const int32_t*>(pointer(o, "indices"));
  a.updates = pointer(o, "updates");
  a.type = dtype(o, "type");
  a.outer = integer(o, "outer");
  a.axisSize = integer(o, "axisSize");
  a.inner = integer(o, "inner");
  a.count = integer(o, "count");
  launchScatterAdd(a, stream());
  return info.Env().Undefined();
}

Napi::Value reduce(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  ReduceArgs a{};
  a.op = static_cast<ReduceOp>(integer(o, "op"));
  a.x = pointer(o, "x");
  a.xType = dtype(o, "xType");
  a.out = pointer(o, "out");
  a.outType = dtype(o, "outType");
  a.outerLayout = js::indexer<1>(o, "outer");
  a.innerLayout = js::indexer<1>(o, "inner");
  launchReduce(a, stream());
  return info.Env().Undefined();
}

Napi::Value softmax(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  SoftmaxArgs a{};
  a.x = pointer(o, "x");
  a.out = pointer(o, "out");
  a.type = dtype(o, "type");
  a.outer = integer(o, "outer");
  a.length = integer(o, "length");
  a.inner = integer(o, "inner");
  a.log = flag(o, "log");
  launchSoftmax(a, stream());
  return info.Env().Undefined();
}

Napi::Value norm(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  NormArgs a{};
  a.x = pointer(o, "x");
  a.weight = pointer(o, "weight");
  a.bias = pointer(o, "bias");
  a.out = pointer(o, "out");
  a.type = dtype(o, "type");
  a.rows = integer(o, "rows");
  a.features = integer(o, "features");
  a.eps = static_cast<float>(number(o, "eps"));
  a.layer = flag(o, "layer");
  launchNorm(a, stream());
  return info.Env().Undefined();
}

Napi::Value rotary(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  RotaryArgs a{};
  a.x = pointer(o, "x");
  a.out = pointer(o, "out");
  a.cos = pointer(o, "cos");
  a.sin = pointer(o, "sin");
  a.type = dtype(o, "type");
  a.rows = integer(o, "rows");
  a.headDim = integer(o, "headDim");
  a.rotaryDim = integer(o, "rotaryDim");
  a.tables = js::indexer<2>(o, "tables");
  a.cosStride = integer(o, "cosStride");
  a.sinStride = integer(o, "sinStride");
  launchRotary(a, stream());
  return info.Env().Undefined();
}

/// Returns the first row whose target is out of range, or -1 (waits for the kernel to know).
Napi::Value crossEntropy(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  CrossEntropyArgs a{};
  a.logits = pointer(o, "logits");
  a.type = dtype(o, "type");
  a.targets = static_cast<const int32_t*>(pointer(o, "targets"));
  a.result = pointer(o, "result");
  a.rows = integer(o, "rows");
  a.classes = integer(o, "classes");
  a.ignoreIndex = static_cast<int32_t>(integer(o, "ignoreIndex"));
  a.reduction = static_cast<int32_t>(integer(o, "reduction"));
  // status, then the per-row losses and counts for sum and mean.
  const size_t rows = a.reduction == 0 ? 0 : static_cast<size_t>(a.rows);
  Scratch scratch(16 + rows * 8);
  a.status = scratch.as<int32_t>();
  a.losses = rows > 0 ? scratch.as<float>(16) : nullptr;
  a.counted = rows > 0 ? scratch.as<int32_t>(16 + rows * 4) : nullptr;
  launchCrossEntropy(a, stream());
  int32_t status = 0;
  device().read(&status, a.status, sizeof status);
  return Napi::Number::New(info.Env(), status == 0 ? -1.0 : static_cast<double>(INT32_MAX - status));
}

Napi::Value attention(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  AttentionArgs a{};
  a.q = pointer(o, "q");
  a.k = pointer(o, "k");
  a.v = pointer(o, "v");
  a.mask = pointer(o, "mask");
  a.out = pointer(o, "out");
  a.type = dtype(o, "type");
  a.batch = integer(o, "batch");
  a.queryHeads = integer(o, "queryHeads");
  a.kvHeads = integer(o, "kvHeads");
  a.queryLength = integer(o, "queryLength");
  a.keyLength = integer(o, "keyLength");
  a.depth = integer(o, "depth");
  a.valueDepth = integer(o, "valueDepth");
  const auto strides = [&](const char* name, int64_t* target, uint32_t count) {
    const Napi::Array s = js::field(o, name).As<Napi::Array>();
    for (uint32_t i = 0; i < count; i++) target[i] = static_cast<int64_t>(s.Get(i).As<Napi::Number>().DoubleValue());
  };
  strides("qStrides", a.qStrides, 3);
  strides("kStrides", a.kStrides, 3);
  strides("vStrides", a.vStrides, 3);
  if (a.mask != nullptr) strides("maskStrides", a.maskStrides, 4);
  a.scale = static_cast<float>(number(o, "scale"));
  a.causal = flag(o, "causal");
  launchAttention(a, stream(), multiprocessors());
  return info.Env().Undefined();
}

MatrixOperand matrix(const Napi::Object& o, const char* name) {
  const Napi::Object m = js::field(o, name).As<Napi::Object>();
  return MatrixOperand{pointer(m, "data"), dtype(m, "type"), integer(m, "rowStride"), integer(m, "colStride"),
                       integer(m, "batchStride")};
}

Napi::Value matmul(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  GemmArgs a{};
  a.a = matrix(o, "a");
  a.b = matrix(o, "b");
  a.c = pointer(o, "c");
  a.cType = dtype(o, "cType");
  a.batch = integer(o, "batch");
  a.m = integer(o, "m");
  a.n = integer(o, "n");
  a.k = integer(o, "k");
  launchGemm(a, stream(), multiprocessors());
  return info.Env().Undefined();
}

gptq::Packed packed(const Napi::Object& o) {
  gptq::Packed w{};
  w.qweight = static_cast<const int32_t*>(pointer(o, "qweight"));
  w.qzeros = static_cast<const int32_t*>(pointer(o, "qzeros"));
  w.scales = pointer(o, "scales");
  w.scaleType = dtype(o, "scaleType");
  w.bits = static_cast<int>(integer(o, "bits"));
  w.n = integer(o, "n");
  w.k = integer(o, "k");
  w.groupSize = integer(o, "groupSize");
  w.zeroOffset = static_cast<int>(integer(o, "zeroOffset"));
  return w;
}

Napi::Value quantMatmul(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  QuantMatmulArgs a{};
  a.w = packed(o);
  a.x = static_cast<const float*>(pointer(o, "x"));
  a.bias = pointer(o, "bias");
  a.biasType = a.bias != nullptr ? dtype(o, "biasType") : DType::f32;
  a.out = static_cast<float*>(pointer(o, "out"));
  a.m = integer(o, "m");
  const QuantMatmulPlan plan = planQuantMatmul(a.m, a.w.n, a.w.k, multiprocessors());
  Scratch workspace(static_cast<size_t>(plan.workspaceFloats) * 4);
  a.workspace = plan.workspaceFloats > 0 ? workspace.as<float>() : nullptr;
  launchQuantMatmul(a, stream(), multiprocessors());
  return info.Env().Undefined();
}

Napi::Value dequantize(const Napi::CallbackInfo& info) {
  const Napi::Object o = argument(info);
  DequantizeArgs a{};
  a.w = packed(o);
  a.gIdx = static_cast<const int32_t*>(pointer(o, "gIdx"));
  a.out = static_cast<float*>(pointer(o, "out"));
  launchDequantize(a, stream());
  return info.Env().Undefined();
}

}  // namespace

void registerKernels(Napi::Env env, Napi::Object exports) {
  js::define<map>(env, exports, "map");
  js::define<copy>(env, exports, "copy");
  js::define<fill>(env, exports, "fill");
  js::define<select>(env, exports, "select");
  js::define<gather>(env, exports, "gather");
  js::define<scatterAdd>(env, exports, "scatterAdd");
  js::define<reduce>(env, exports, "reduce");
  js::define<softmax>(env, exports, "softmax");
  js::define<norm>(env, exports, "norm");
  js::define<rotary>(env, exports, "rotary");
  js::define<crossEntropy>(env, exports, "crossEntropy");
  js::define<attention>(env, exports, "attention");
  js::define<matmul>(env, exports, "matmul");
  js::define<quantMatmul>(env, exports, "quantMatmul");
  js::define<dequantize>(env, exports, "dequantize");
}

}  // namespace slimlm::cuda
