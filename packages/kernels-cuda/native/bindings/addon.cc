// The slimlm_cuda addon: the runtime, the kernels, and the host-side helpers the tests use.
#include <napi.h>

#include "bindings/bindings.h"

namespace {
Napi::Object init(Napi::Env env, Napi::Object exports) {
  slimlm::cuda::registerRuntime(env, exports);
  slimlm::cuda::registerKernels(env, exports);
  slimlm::cuda::registerLinalg(env, exports);
  slimlm::cuda::registerHost(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(slimlm_cuda, init)
