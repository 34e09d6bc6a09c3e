// The GPU the backend runs on: one device, one stream that every kernel and copy is queued on
// (so work runs in the order JavaScript issued it), and the caching allocator over its memory.
#pragma once

#include "common/gpu.h"

#include <memory>
#include <string>

#include "runtime/allocator.h"

namespace slimlm::cuda {

struct DeviceInfo {
  int ordinal;
  std::string name;
  int major, minor;  // compute capability
  size_t totalMemory;
  int multiprocessors;
  size_t sharedMemoryPerBlockOptin;  // the most dynamic shared memory a block may ask for
  size_t l2CacheBytes;
  int driverVersion, runtimeVersion;  // 1000 * major + 10 * minor
};

/// cudaGetDeviceCount; throws a CudaError where there is no driver or no device.
int deviceCount();

class Device {
 public:
  explicit Device(int ordinal);

  const DeviceInfo& info() const { return info_; }
  cudaStream_t stream() const { return stream_; }
  CachingAllocator& allocator() { return allocator_; }

  /// Zero-filled device memory of `bytes` (nullptr for 0). Throws a CudaError naming the size
  /// and the memory in use when it does not fit even after emptying the cache.
  void* allocate(size_t bytes);
  void free(void* block);
  /// Host -> device and device -> host, in stream order; both return once the host buffer may be
  /// reused or read.
  void write(void* device, const void* host, size_t bytes);
  void read(void* host, const void* device, size_t bytes);
  /// Waits for every queued kernel and copy.
  void synchronize();
  /// Makes this device current on the calling thread (worker threads of async reads).
  void makeCurrent() const;

 private:
  DeviceInfo info_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<RawMemory> memory_;
  CachingAllocator allocator_;
};

/// Opens device `ordinal` (once; later calls return the same device and ignore the ordinal).
Device& openDevice(int ordinal);
/// The open device; throws std::logic_error before openDevice.
Device& device();

}  // namespace slimlm::cuda
