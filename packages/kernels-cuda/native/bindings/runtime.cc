// The runtime's bindings: finding and opening the device, memory, copies, synchronisation and
// memory statistics.
#include <napi.h>

#include <cstring>
#include <vector>

#include "bindings/bindings.h"
#include "bindings/js.h"
#include "common/gpu.h"
#include "common/plans.h"
#include "runtime/device.h"

namespace slimlm::cuda {
namespace {

/// {count} or {error, cudaError}: never throws, since having no GPU is an answer, not a failure.
Napi::Value probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  try {
    result.Set("count", deviceCount());
  } catch (const CudaError& e) {
    result.Set("error", e.what());
    result.Set("cudaError", e.name());
  }
  return result;
}

/// What this build is and which paths its kernels take (the same sources built for NVIDIA or AMD,
/// common/gpu.h): known without a device, so the tests compare the two builds anywhere.
Napi::Value capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("backend", kBackendName);
  o.Set("warpLanes", kWarpLanes);
  o.Set("maxSharedBytesPerBlock", static_cast<double>(kMaxSharedBytesPerBlock));
  o.Set("attentionMaxHeadDim", static_cast<double>(kAttentionMaxDepth));
  o.Set("halfMatmul", kHasTensorCoreGemm ? "tensor cores: mma.sync m16n8k16, ldmatrix, cp.async"
                                         : "tiled SIMT GEMM (f32 FMAs; no MFMA/WMMA path yet)");
  // Kernel families this build leaves out, with the reason (none today: every kernel compiles
  // for both vendors).
  o.Set("notPorted", Napi::Object::New(env));
  return o;
}

Napi::Object infoObject(Napi::Env env, const DeviceInfo& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ordinal", d.ordinal);
  o.Set("name", d.name);
  Napi::Array capability = Napi::Array::New(env, 2);
  capability.Set(0u, d.major);
  capability.Set(1u, d.minor);
  o.Set("computeCapability", capability);
  o.Set("totalMemory", static_cast<double>(d.totalMemory));
  o.Set("multiprocessors", d.multiprocessors);
  o.Set("sharedMemoryPerBlockOptin", static_cast<double>(d.sharedMemoryPerBlockOptin));
  o.Set("l2CacheBytes", static_cast<double>(d.l2CacheBytes));
  o.Set("driverVersion", d.driverVersion);
  o.Set("runtimeVersion", d.runtimeVersion);
  return o;
}

Napi::Value open(const Napi::CallbackInfo& info) {
  const int ordinal = info[0].As<Napi::Number>().Int32Value();
  return infoObject(info.Env(), openDevice(ordinal).info());
}

Napi::Value allocate(const Napi::CallbackInfo& info) {
  const double bytes = info[0].As<Napi::Number>().DoubleValue();
  return js::address(info.Env(), device().allocate(static_cast<size_t>(bytes)));
}

Napi::Value release(const Napi::CallbackInfo& info) {
  device().free(reinterpret_cast<void*>(static_cast<uintptr_t>(info[0].As<Napi::Number>().DoubleValue())));
  return info.Env().Undefined();
}

void* addressArg(const Napi::Value& v) {
  return reinterpret_cast<void*>(static_cast<uintptr_t>(v.As<Napi::Number>().DoubleValue()));
}

/// write(address, typedArray): host -> device.
Napi::Value write(const Napi::CallbackInfo& info) {
  const Napi::TypedArray data = info[1].As<Napi::TypedArray>();
  const uint8_t* host = static_cast<const uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
  device().write(addressArg(info[0]), host, data.ByteLength());
  return info.Env().Undefined();
}

/// read(address, typedArray): device -> host, filling the array.
Napi::Value read(const Napi::CallbackInfo& info) {
  Napi::TypedArray data = info[1].As<Napi::TypedArray>();
  uint8_t* host = static_cast<uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
  device().read(host, addressArg(info[0]), data.ByteLength());
  return info.Env().Undefined();
}

/// The copy of readAsync on a worker thread: the JavaScript thread keeps queueing work meanwhile.
class ReadWorker : public Napi::AsyncWorker {
 public:
  ReadWorker(Napi::Env env, const void* source, Napi::TypedArray target)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), source_(source),
        target_(Napi::Persistent(target)),
        host_(static_cast<uint8_t*>(target.ArrayBuffer().Data()) + target.ByteOffset()),
        bytes_(target.ByteLength()) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override {
    try {
      device().makeCurrent();
      device().read(host_, source_, bytes_);
    } catch (const CudaError& e) {
      cudaName_ = e.name();
      SetError(e.what());
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override {
    if (!cudaName_.empty()) e.Value().Set("cudaError", cudaName_);
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  const void* source_;
  Napi::Reference<Napi::TypedArray> target_;  // keeps the array alive while the copy runs
  uint8_t* host_;
  size_t bytes_;
  std::string cudaName_;
};

/// readAsync(address, typedArray): resolves once the array holds the data.
Napi::Value readAsync(const Napi::CallbackInfo& info) {
  auto* worker = new ReadWorker(info.Env(), addressArg(info[0]), info[1].As<Napi::TypedArray>());
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value synchronize(const Napi::CallbackInfo& info) {
  device().synchronize();
  return info.Env().Undefined();
}

Napi::Value memoryStats(const Napi::CallbackInfo& info) {
  return statsObject(info.Env(), device().allocator().stats());
}

Napi::Value resetPeakMemoryStats(const Napi::CallbackInfo& info) {
  device().allocator().resetPeaks();
  return info.Env().Undefined();
}

Napi::Value emptyCache(const Napi::CallbackInfo& info) {
  // cudaFree would wait for the device anyway; waiting first keeps in-flight kernels' blocks safe.
  device().synchronize();
  device().allocator().emptyCache();
  return info.Env().Undefined();
}

}  // namespace

Napi::Object statsObject(Napi::Env env, const MemoryStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("allocatedBytes", static_cast<double>(s.allocatedBytes));
  o.Set("peakAllocatedBytes", static_cast<double>(s.peakAllocatedBytes));
  o.Set("reservedBytes", static_cast<double>(s.reservedBytes));
  o.Set("peakReservedBytes", static_cast<double>(s.peakReservedBytes));
  o.Set("activeBlocks", static_cast<double>(s.activeBlocks));
  o.Set("cachedBlocks", static_cast<double>(s.cachedBlocks));
  o.Set("cacheHits", static_cast<double>(s.cacheHits));
  o.Set("rawAllocations", static_cast<double>(s.rawAllocations));
  o.Set("evictions", static_cast<double>(s.evictions));
  return o;
}

void registerRuntime(Napi::Env env, Napi::Object exports) {
  js::define<capabilities>(env, exports, "capabilities");
  js::define<probe>(env, exports, "probe");
  js::define<open>(env, exports, "open");
  js::define<allocate>(env, exports, "allocate");
  js::define<release>(env, exports, "free");
  js::define<write>(env, exports, "write");
  js::define<read>(env, exports, "read");
  js::define<readAsync>(env, exports, "readAsync");
  js::define<synchronize>(env, exports, "synchronize");
  js::define<memoryStats>(env, exports, "memoryStats");
  js::define<resetPeakMemoryStats>(env, exports, "resetPeakMemoryStats");
  js::define<emptyCache>(env, exports, "emptyCache");
}

}  // namespace slimlm::cuda
