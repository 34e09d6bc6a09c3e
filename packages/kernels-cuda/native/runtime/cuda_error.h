// CUDA failures as C++ exceptions that carry CUDA's own words: the call that failed, what it was
// doing, and cudaGetErrorString / cudaGetErrorName of the code. The bindings turn them into
// JavaScript errors with `cudaError` set to the name (src/errors.ts makes them CudaErrors).
#pragma once

#include <stdexcept>
#include <string>

#include "common/gpu.h"

namespace slimlm::cuda {

class CudaError : public std::runtime_error {
 public:
  CudaError(const std::string& what, cudaError_t code)
      : std::runtime_error(what + ": " + cudaGetErrorString(code) + " (" + cudaGetErrorName(code) + ")"),
        name_(cudaGetErrorName(code)) {}
  /// The error's name, such as "cudaErrorMemoryAllocation".
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

/// Throws a CudaError naming `what` unless `code` is cudaSuccess.
inline void check(cudaError_t code, const std::string& what) {
  if (code != cudaSuccess) throw CudaError(what, code);
}

/// After a kernel launch: throws if the launch failed (bad configuration, no kernel image for
/// this GPU). With SLIMLM_CUDA_SYNC=1 it also waits for the kernel, so that a fault inside it is
/// reported here, naming the kernel, instead of at the next copy (for debugging; slow).
void checkLaunch(const char* kernel, cudaStream_t stream);

}  // namespace slimlm::cuda
