// Each kernel family adds its functions to the addon's exports (native/<family>/bindings.cc).
#pragma once

#include <napi.h>

namespace slimlm {

void registerGemmBindings(Napi::Env env, Napi::Object exports);
void registerOpsBindings(Napi::Env env, Napi::Object exports);
void registerGptqBindings(Napi::Env env, Napi::Object exports);
void registerLinalgBindings(Napi::Env env, Napi::Object exports);
void registerQuantBindings(Napi::Env env, Napi::Object exports);

}  // namespace slimlm
