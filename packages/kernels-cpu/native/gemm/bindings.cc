#include <memory>

#include "gemm/gemm.h"
#include "runtime/bindings.h"
#include "runtime/runtime.h"
#include "slimlm/threadpool.h"

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

/// gemm's arguments: (a, b, c, dims) with dims = [batch, m, n, k, aType, aOffset, aRowStride,
/// aColStride, aBatchStride, bType, bOffset, bRowStride, bColStride, bBatchStride, cType, cOffset,
/// cBatchStride]; types are DType codes, offsets and strides in elements.
GemmArgs parseArgs(const Napi::CallbackInfo& info) {
  const auto* d = reinterpret_cast<const double*>(typedArrayData(info[3], "dims"));
  auto at = [&](int index) { return static_cast<int64_t>(d[index]); };
  const auto aType = static_cast<DType>(at(4));
  const auto bType = static_cast<DType>(at(9));
  const auto cType = static_cast<DType>(at(14));
  return GemmArgs{
      at(0), at(1), at(2), at(3),
      Matrix{typedArrayData(info[0], "a") + at(5) * elementBytes(aType), aType, at(6), at(7), at(8)},
      Matrix{typedArrayData(info[1], "b") + at(10) * elementBytes(bType), bType, at(11), at(12), at(13)},
      typedArrayData(info[2], "c") + at(15) * elementBytes(cType), cType, at(16),
  };
}

Napi::Value Gemm(const Napi::CallbackInfo& info) {
  table().gemm(parseArgs(info), parallel());
  return info.Env().Undefined();
}

// Async GEMMs run on a pool of their own, so that setThreads() can replace the main pool while
// one is in flight. It is resized to the main pool's thread count only when no async GEMM is
// running. Each JS thread (the main one, every worker_thread) has its own pool and counter, which
// only that thread touches: AsyncWorker settles on the thread that queued it.
thread_local std::unique_ptr<ThreadPool> asyncPool;
thread_local int asyncInFlight = 0;

Parallel asyncParallel() {
  const int threads = parallel().threads;
  if (asyncInFlight == 0 && (!asyncPool || asyncPool->threads() != threads)) {
    asyncPool = std::make_unique<ThreadPool>(threads);
  }
  asyncInFlight++;
  return asyncPool->handle();
}

class GemmWorker : public Napi::AsyncWorker {
 public:
  GemmWorker(const Napi::CallbackInfo& info, const GemmArgs& args)
      : Napi::AsyncWorker(info.Env(), "slimlm.gemmAsync"),
        deferred_(Napi::Promise::Deferred::New(info.Env())),
        args_(args),
        table_(table()),
        parallel_(asyncParallel()) {
    // The kernel reads and writes these arrays' memory after this call returns: hold them.
    for (int i = 0; i < 3; i++) operands_[i] = Napi::Persistent(info[i].As<Napi::Object>());
  }

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override { table_.gemm(args_, parallel_); }

  void OnOK() override {
    asyncInFlight--;
    deferred_.Resolve(Env().Undefined());
  }

  void OnError(const Napi::Error& error) override {
    asyncInFlight--;
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  GemmArgs args_;
  const GemmTable& table_;
  Parallel parallel_;
  Napi::ObjectReference operands_[3];
};

/// gemmAsync(a, b, c, dims): like gemm, on a worker thread; returns a Promise that resolves
/// (to undefined) once c holds the product.
Napi::Value GemmAsync(const Napi::CallbackInfo& info) {
  const GemmArgs args = parseArgs(info);
  auto* worker = new GemmWorker(info, args);
  const Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace

void registerGemmBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("gemmAsync", Napi::Function::New(env, GemmAsync));
}

}  // namespace slimlm
