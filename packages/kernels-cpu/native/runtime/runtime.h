// What kernel bindings need from the runtime: the ISA in use and the thread pool.
#pragma once

#include <napi.h>

#include "slimlm/common.h"

namespace slimlm {

Isa activeIsa();
Parallel parallel();

/// The element pointer of a typed-array argument, or a JS TypeError naming the argument.
uint8_t* typedArrayData(const Napi::Value& value, const char* name);

}  // namespace slimlm
