// Each kernel family adds its functions to the addon's exports (native/<family>/bindings.cc).
#pragma once

#include <napi.h>

namespace slimlm {

void registerGemmBindings(Napi::Env env, Napi::Object exports);
void registerOpsBindings(Napi::Env env, Napi::Object exports);

}  // namespace slimlm
