// Reading the glue's argument objects (named fields, see src/kernels/*.ts) and turning C++
// failures into JavaScript errors.
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/dtype.h"
#include "common/strided.h"
#include "runtime/cuda_error.h"

namespace slimlm::cuda::js {

inline Napi::Value field(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) throw std::invalid_argument(std::string("missing argument '") + name + "'");
  return v;
}

inline double number(const Napi::Object& o, const char* name) {
  return field(o, name).As<Napi::Number>().DoubleValue();
}

inline int64_t integer(const Napi::Object& o, const char* name) {
  return static_cast<int64_t>(number(o, name));
}

inline bool flag(const Napi::Object& o, const char* name) { return field(o, name).ToBoolean().Value(); }

inline DType dtype(const Napi::Object& o, const char* name) {
  return static_cast<DType>(integer(o, name));
}

/// A device address (a number below 2^53; null or absent for none).
inline void* pointer(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  return reinterpret_cast<void*>(static_cast<uintptr_t>(v.As<Napi::Number>().DoubleValue()));
}

/// An address as a JavaScript number, exact: device addresses lie far below 2^53.
inline Napi::Number address(Napi::Env env, const void* p) {
  const uintptr_t value = reinterpret_cast<uintptr_t>(p);
  if (value >= (uintptr_t{1} << 53)) throw std::runtime_error("device address above 2^53");
  return Napi::Number::New(env, static_cast<double>(value));
}

/// {dims: number[], strides: number[][N]} as an Indexer<N>.
template <int N>
Indexer<N> indexer(const Napi::Object& o, const char* name) {
  const Napi::Object layout = field(o, name).As<Napi::Object>();
  const Napi::Array dims = layout.Get("dims").As<Napi::Array>();
  const Napi::Array strides = layout.Get("strides").As<Napi::Array>();
  Indexer<N> result{};
  if (dims.Length() > static_cast<uint32_t>(kMaxDims))
    throw std::invalid_argument(std::string(name) + ": more than 8 dims after collapsing");
  if (strides.Length() != static_cast<uint32_t>(N))
    throw std::invalid_argument(std::string(name) + ": expected " + std::to_string(N) + " operands' strides");
  result.rank = static_cast<int32_t>(dims.Length());
  for (uint32_t i = 0; i < dims.Length(); i++) {
    result.dims[i] = static_cast<int64_t>(dims.Get(i).As<Napi::Number>().DoubleValue());
  }
  for (int k = 0; k < N; k++) {
    const Napi::Array s = strides.Get(static_cast<uint32_t>(k)).As<Napi::Array>();
    if (s.Length() != dims.Length())
      throw std::invalid_argument(std::string(name) + ": strides and dims differ in length");
    for (uint32_t i = 0; i < s.Length(); i++)
      result.strides[k][i] = static_cast<int64_t>(s.Get(i).As<Napi::Number>().DoubleValue());
  }
  return result;
}

/// A JavaScript Error for a C++ failure.
inline Napi::Error toJsError(Napi::Env env, const std::exception& e) {
  return Napi::Error::New(env, e.what());
}

/// The same for a CUDA failure, with CUDA's error name in `cudaError`.
inline Napi::Error toJsError(Napi::Env env, const CudaError& e) {
  Napi::Error error = Napi::Error::New(env, e.what());
  error.Value().Set("cudaError", Napi::String::New(env, e.name()));
  return error;
}

/// Wraps a binding so that C++ exceptions reach JavaScript as errors instead of aborting.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const CudaError& e) {
    throw toJsError(info.Env(), e);
  } catch (const std::exception& e) {
    throw toJsError(info.Env(), e);
  }
}

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
void define(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, guarded<F>, name));
}

}  // namespace slimlm::cuda::js
