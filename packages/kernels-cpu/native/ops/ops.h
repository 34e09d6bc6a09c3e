// The elementwise / reduction / normalization / attention family: its per-ISA table and the
// N-API bindings' entry point. (Filled in by the op kernels; see ops/bindings.cc.)
#pragma once

#include "slimlm/common.h"

namespace slimlm {

/// One ISA's op kernels.
struct OpsTable {
  const char* isa;
};

namespace avx512 { const OpsTable& opsTable(); }
namespace avx2 { const OpsTable& opsTable(); }
namespace scalar { const OpsTable& opsTable(); }


}  // namespace slimlm
