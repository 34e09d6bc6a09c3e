// What kernel bindings need from the runtime: the ISA in use and the thread pool.
#pragma once

#include <napi.h>

#include <memory>

#include "slimlm/common.h"

namespace slimlm {

class ThreadPool;

Isa activeIsa();

/// The pool's handle for one kernel call. It keeps that pool alive until the call returns, even
/// if setThreads (from another worker thread) replaces the pool meanwhile.
struct ParallelLease {
  std::shared_ptr<ThreadPool> pool;
  Parallel handle;
  int threads;
  operator const Parallel&() const { return handle; }
};

ParallelLease parallel();

/// The element pointer of a typed-array argument, or a JS TypeError naming the argument.
uint8_t* typedArrayData(const Napi::Value& value, const char* name);

}  // namespace slimlm
