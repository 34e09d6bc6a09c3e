// The N-API surface of @slimlm/kernels-cpu: CPU information, ISA and thread control; each kernel
// family adds its own functions (registerGemmBindings, registerOpsBindings). Kernels take typed
// arrays (the tensors' storage, no copies) and a Float64Array of dimensions and strides, so a
// call costs one crossing.
#include <napi.h>
#include <sched.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "gemm/gemm.h"
#include "ops/ops.h"
#include "runtime/dispatch.h"
#include "runtime/bindings.h"
#include "runtime/runtime.h"
#include "slimlm/threadpool.h"

namespace slimlm {
namespace {

Isa currentIsa = Isa::scalar;
std::shared_ptr<ThreadPool> pool;

int defaultThreads() {
  if (const char* env = std::getenv("SLIMLM_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return 1;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuFeatures& f = cpuFeatures();
  Napi::Object features = Napi::Object::New(env);
  features.Set("avx2", f.avx2);
  features.Set("fma", f.fma);
  features.Set("f16c", f.f16c);
  features.Set("avx512f", f.avx512f);
  features.Set("avx512dq", f.avx512dq);
  features.Set("avx512bw", f.avx512bw);
  features.Set("avx512vl", f.avx512vl);
  features.Set("avx512bf16", f.avx512bf16);
  features.Set("avx512vnni", f.avx512vnni);
  Napi::Array supported = Napi::Array::New(env);
  uint32_t count = 0;
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar}) {
    if (isaSupported(isa)) supported.Set(count++, isaName(isa));
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("isa", isaName(currentIsa));
  result.Set("supportedIsas", supported);
  result.Set("features", features);
  result.Set("threads", std::atomic_load(&pool)->threads());
  return result;
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  try {
    const Isa isa = parseIsa(info[0].As<Napi::String>().Utf8Value());
    if (!isaSupported(isa)) throw std::runtime_error(std::string("ISA '") + isaName(isa) + "' is not supported by this CPU");
    currentIsa = isa;
  } catch (const std::exception& error) {
    throw Napi::Error::New(info.Env(), error.what());
  }
  return info.Env().Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const int threads = info[0].As<Napi::Number>().Int32Value();
  if (threads < 1) throw Napi::RangeError::New(info.Env(), "threads must be at least 1");
  std::atomic_store(&pool, std::make_shared<ThreadPool>(threads));
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  try {
    currentIsa = bestIsa();
  } catch (const std::exception& error) {
    throw Napi::Error::New(env, error.what());
  }
  std::atomic_store(&pool, std::make_shared<ThreadPool>(defaultThreads()));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  registerGemmBindings(env, exports);
  registerOpsBindings(env, exports);
  registerGptqBindings(env, exports);
  registerLinalgBindings(env, exports);
  registerQuantBindings(env, exports);
  return exports;
}

}  // namespace

Isa activeIsa() { return currentIsa; }

ParallelLease parallel() {
  std::shared_ptr<ThreadPool> current = std::atomic_load(&pool);
  const Parallel handle = current->handle();
  return ParallelLease{std::move(current), handle, handle.threads};
}

uint8_t* typedArrayData(const Napi::Value& value, const char* name) {
  if (!value.IsTypedArray()) throw Napi::TypeError::New(value.Env(), std::string(name) + " must be a typed array");
  auto array = value.As<Napi::TypedArray>();
  return static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
}

}  // namespace slimlm

// NODE_API_MODULE pastes the name into an identifier, so it needs an unqualified one.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return slimlm::Init(env, exports); }

NODE_API_MODULE(slimlm_cpu, InitModule)
