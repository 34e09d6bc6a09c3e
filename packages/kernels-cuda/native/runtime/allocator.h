// The caching allocator: device memory is taken from CUDA in rounded blocks and, once freed,
// kept for reuse instead of being given back (cudaFree synchronises the whole device, and
// cudaMalloc is slow). Every kernel runs on the one stream, so a block freed after its last use
// can be handed out at once: the next user's work is queued behind that use.
//
// The allocator knows nothing of CUDA itself: it draws on a RawMemory (the device's, or a host
// stand-in in the unit tests), so its rounding, reuse, eviction and statistics are tested on any
// machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>

namespace slimlm::cuda {

/// Where blocks come from. allocate returns nullptr when the memory is exhausted (and throws for
/// any other failure).
class RawMemory {
 public:
  virtual ~RawMemory() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void release(void* block) = 0;
};

struct MemoryStats {
  /// Bytes of blocks handed out and not yet freed (block sizes, after rounding).
  size_t allocatedBytes = 0;
  size_t peakAllocatedBytes = 0;
  /// Bytes taken from the raw memory: blocks in use plus blocks cached for reuse.
  size_t reservedBytes = 0;
  size_t peakReservedBytes = 0;
  /// Blocks in use.
  size_t activeBlocks = 0;
  /// Blocks cached for reuse.
  size_t cachedBlocks = 0;
  /// Requests served from the cache, and those that needed a raw allocation.
  uint64_t cacheHits = 0;
  uint64_t rawAllocations = 0;
  /// Times the cache was emptied to retry an allocation that did not fit.
  uint64_t evictions = 0;
};

class CachingAllocator {
 public:
  explicit CachingAllocator(RawMemory& memory) : memory_(memory) {}
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  /// The block size a request of `bytes` is served with: multiples of 512 bytes up to 1 MiB,
  /// then multiples of 2 MiB, so that repeated shapes reuse blocks exactly.
  static size_t roundedSize(size_t bytes);

  /// A block of at least `bytes` (nullptr for 0 bytes). Reuses the smallest cached block that
  /// fits without wasting more than a quarter of it; otherwise allocates, and if the memory is
  /// exhausted, empties the cache and tries once more. Returns nullptr if it still does not fit.
  void* allocate(size_t bytes);
  /// Returns a block to the cache. Freeing nullptr does nothing; an unknown pointer throws.
  void free(void* block);
  /// Gives every cached block back to the raw memory.
  void emptyCache();
  /// The size of the block behind a pointer handed out (0 if unknown).
  size_t blockSize(void* block) const;

  const MemoryStats& stats() const { return stats_; }
  /// Restarts the peaks from the current values.
  void resetPeaks();

 private:
  RawMemory& memory_;
  std::multimap<size_t, void*> cached_;       // size -> block, ready for reuse
  std::unordered_map<void*, size_t> active_;  // block -> size, handed out
  MemoryStats stats_;
};

}  // namespace slimlm::cuda
