#include "runtime/device.h"

#include <cstdlib>
#include <stdexcept>

#include "runtime/cuda_error.h"

namespace slimlm::cuda {

namespace {

/// cudaMalloc and cudaFree. Running out is reported as nullptr (the allocator then evicts its
/// cache and retries); any other failure throws.
class CudaMemory : public RawMemory {
 public:
  void* allocate(size_t bytes) override {
    void* block = nullptr;
    const cudaError_t code = cudaMalloc(&block, bytes);
    if (code == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky, but clear it so that checkLaunch does not report it
      return nullptr;
    }
    check(code, "cudaMalloc(" + std::to_string(bytes) + " bytes)");
    return block;
  }
  void release(void* block) override { check(cudaFree(block), "cudaFree"); }
};

// Never destroyed: at exit the driver reclaims the device's memory, and freeing it from a static
// destructor could run after the CUDA runtime has shut down.
Device* openedDevice = nullptr;

std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

void checkLaunch(const char* kernel, cudaStream_t stream) {
  check(cudaGetLastError(), std::string("launching ") + kernel);
  static const bool synchronous = [] {
    const char* value = std::getenv("SLIMLM_CUDA_SYNC");
    return value != nullptr && value[0] == '1';
  }();
  if (synchronous) check(cudaStreamSynchronize(stream), std::string("running ") + kernel);
}

int deviceCount() {
  int count = 0;
  check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  return count;
}

Device::Device(int ordinal) : memory_(std::make_unique<CudaMemory>()), allocator_(*memory_) {
  check(cudaSetDevice(ordinal), "cudaSetDevice(" + std::to_string(ordinal) + ")");
  cudaDeviceProp props{};
  check(cudaGetDeviceProperties(&props, ordinal), "cudaGetDeviceProperties");
  info_.ordinal = ordinal;
  info_.name = deviceName(props);
  info_.major = props.major;
  info_.minor = props.minor;
  info_.totalMemory = props.totalGlobalMem;
  info_.multiprocessors = props.multiProcessorCount;
  info_.sharedMemoryPerBlockOptin = sharedMemoryPerBlockOptin(props);
  info_.l2CacheBytes = static_cast<size_t>(props.l2CacheSize);
  check(cudaDriverGetVersion(&info_.driverVersion), "cudaDriverGetVersion");
  check(cudaRuntimeGetVersion(&info_.runtimeVersion), "cudaRuntimeGetVersion");
  // Non-blocking: the legacy default stream (used by nothing here) never serialises with it.
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
}


void* Device::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* block = allocator_.allocate(bytes);
  if (block == nullptr) {
    size_t freeBytes = 0, totalBytes = 0;
    (void)cudaMemGetInfo(&freeBytes, &totalBytes);  // zeros if it fails: only for the message
    const MemoryStats& s = allocator_.stats();
    throw CudaError("allocating " + std::to_string(bytes) + " bytes on " + info_.name + " (" +
                        mib(s.allocatedBytes) + " in use by slimlm, " + mib(freeBytes) +
                        " free of " + mib(totalBytes) + ")",
                    cudaErrorMemoryAllocation);
  }
  check(cudaMemsetAsync(block, 0, bytes, stream_), "cudaMemsetAsync");
  return block;
}

void Device::free(void* block) { allocator_.free(block); }

void Device::write(void* device, const void* host, size_t bytes) {
  if (bytes == 0) return;
  // From pageable memory the copy is staged by the driver; waiting makes `host` reusable at once.
  check(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, stream_),
        "copying " + std::to_string(bytes) + " bytes to the device");
  check(cudaStreamSynchronize(stream_), "copying to the device");
}

void Device::read(void* host, const void* device, size_t bytes) {
  if (bytes == 0) return;
  check(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, stream_),
        "copying " + std::to_string(bytes) + " bytes from the device");
  check(cudaStreamSynchronize(stream_), "copying from the device");
}

void Device::synchronize() { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

void Device::makeCurrent() const {
  check(cudaSetDevice(info_.ordinal), "cudaSetDevice(" + std::to_string(info_.ordinal) + ")");
}

Device& openDevice(int ordinal) {
  if (openedDevice == nullptr) openedDevice = new Device(ordinal);
  return *openedDevice;
}

Device& device() {
  if (openedDevice == nullptr) throw std::logic_error("@slimlm/kernels-cuda: the device is not open");
  return *openedDevice;
}

}  // namespace slimlm::cuda
