// The linalg bindings (kernels/linalg.h): cholesky, choleskyInverse and gptqQuantizeBlock, each
// taking one object of named fields built by src/kernels/linalg.ts, whose temporaries (scratch,
// the failure flag) it allocates.
#include <napi.h>

#include "bindings/bindings.h"
#include "bindings/js.h"
#include "kernels/linalg.h"
#include "runtime/device.h"

namespace slimlm::cuda {
namespace {

using js::flag;
using js::integer;
using js::number;
using js::pointer;

SquareView squareView(const Napi::Object& o, const char* name) {
  const Napi::Object v = js::field(o, name).As<Napi::Object>();
  return SquareView{static_cast<const float*>(pointer(v, "data")), integer(v, "n"), integer(v, "rowStride"),
                    integer(v, "colStride")};
}

/// Returns null, or {pivot, value} for the first pivot that is not positive (waits for the
/// kernels to know: the one synchronisation of the factorisation).
Napi::Value cholesky(const Napi::CallbackInfo& info) {
  const Napi::Object o = info[0].As<Napi::Object>();
  CholeskyArgs a{};
  a.a = squareView(o, "a");
  a.out = static_cast<float*>(pointer(o, "out"));
  a.upper = flag(o, "upper");
  a.diagonalInverse = static_cast<float*>(pointer(o, "diagonalInverse"));
  a.status = static_cast<CholeskyStatus*>(pointer(o, "status"));
  launchCholesky(a, device().stream());
  CholeskyStatus status{};
  device().read(&status, a.status, sizeof status);
  if (status.failed == 0) return info.Env().Null();
  Napi::Object failure = Napi::Object::New(info.Env());
  failure.Set("pivot", status.pivot);
  failure.Set("value", status.value);
  return failure;
}

Napi::Value choleskyInverse(const Napi::CallbackInfo& info) {
  const Napi::Object o = info[0].As<Napi::Object>();
  CholeskyInverseArgs a{};
  a.factor = squareView(o, "factor");
  a.out = static_cast<float*>(pointer(o, "out"));
  a.inverse = static_cast<float*>(pointer(o, "inverse"));
  launchCholeskyInverse(a, device().stream());
  return info.Env().Undefined();
}

Napi::Value gptqQuantizeBlock(const Napi::CallbackInfo& info) {
  const Napi::Object o = info[0].As<Napi::Object>();
  GptqBlockArgs a{};
  a.rows = integer(o, "rows");
  a.cols = integer(o, "cols");
  a.paramRows = integer(o, "paramRows");
  a.maxq = static_cast<float>(number(o, "maxq"));
  a.w = static_cast<const float*>(pointer(o, "w"));
  a.hinv = static_cast<const float*>(pointer(o, "hinv"));
  a.scales = static_cast<const float*>(pointer(o, "scales"));
  a.zeros = static_cast<const float*>(pointer(o, "zeros"));
  a.params = static_cast<const int32_t*>(pointer(o, "params"));
  a.q = static_cast<float*>(pointer(o, "q"));
  a.err = static_cast<float*>(pointer(o, "err"));
  a.losses = static_cast<float*>(pointer(o, "losses"));
  a.codes = static_cast<uint8_t*>(pointer(o, "codes"));
  launchGptqQuantizeBlock(a, device().stream(), device().info().multiprocessors);
  return info.Env().Undefined();
}

}  // namespace

void registerLinalg(Napi::Env env, Napi::Object exports) {
  js::define<cholesky>(env, exports, "cholesky");
  js::define<choleskyInverse>(env, exports, "choleskyInverse");
  js::define<gptqQuantizeBlock>(env, exports, "gptqQuantizeBlock");
}

}  // namespace slimlm::cuda
