// The addon's parts, each registering its functions on the exports (addon.cc joins them).
#pragma once

#include <napi.h>

#include "runtime/allocator.h"

namespace slimlm::cuda {

/// The device runtime: probe, open, memory, copies, synchronisation, statistics (runtime.cc).
void registerRuntime(Napi::Env env, Napi::Object exports);
/// One function per kernel family (kernels.cc).
void registerKernels(Napi::Env env, Napi::Object exports);
/// cholesky, choleskyInverse and gptqQuantizeBlock (linalg.cc).
void registerLinalg(Napi::Env env, Napi::Object exports);
/// Host-side pieces the unit tests check without a GPU: launch plans, GPTQ unpacking, the
/// caching allocator over simulated memory (host.cc).
void registerHost(Napi::Env env, Napi::Object exports);

/// Memory statistics as a JavaScript object (shared by the device and the simulated allocator).
Napi::Object statsObject(Napi::Env env, const MemoryStats& stats);

}  // namespace slimlm::cuda
