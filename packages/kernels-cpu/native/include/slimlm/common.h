// Types shared by the runtime and every kernel family.
//
// Files under <family>/isa/ are compiled three times (binding.gyp): with AVX-512, with AVX2+FMA
// and with no extension flags, each time inside namespace slimlm::SLIMLM_ISA. They must not
// instantiate shared inline functions or templates with external linkage (std::vector,
// std::function, std::sort...): the linker keeps one copy of such a function, maybe the AVX-512
// one, and the scalar path would then crash on an older CPU. Keep them to plain loops,
// intrinsics, static functions and helpers in the ISA namespace.
#pragma once

#include <cstddef>
#include <cstdint>

#define SLIMLM_STRINGIFY_(x) #x
#define SLIMLM_STRINGIFY(x) SLIMLM_STRINGIFY_(x)
#define SLIMLM_ISA_NAME SLIMLM_STRINGIFY(SLIMLM_ISA)

namespace slimlm {

enum class Isa : int32_t { scalar = 0, avx2 = 1, avx512 = 2 };

/// Element types the native kernels read and write (codes shared with the TypeScript glue).
enum class DType : int32_t { f32 = 0, f16 = 1, bf16 = 2 };

/// Runs fn(ctx, begin, end) over [0, count) split into chunks of `grain` across the pool's
/// threads (the caller's thread included); returns when all are done. A plain function pointer
/// keeps the per-ISA files free of std::function.
using ParallelFn = void (*)(void* ctx, int64_t begin, int64_t end);
struct Parallel {
  void* pool;
  void (*run)(void* pool, int64_t count, int64_t grain, ParallelFn fn, void* ctx);
  int threads;
  void operator()(int64_t count, int64_t grain, ParallelFn fn, void* ctx) const { run(pool, count, grain, fn, ctx); }
};

}  // namespace slimlm
