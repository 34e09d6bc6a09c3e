#include "ops/ops.h"

#include "runtime/bindings.h"

namespace slimlm {

void registerOpsBindings(Napi::Env, Napi::Object) {}

}  // namespace slimlm
