#include "runtime/allocator.h"

#include <algorithm>
#include <stdexcept>

namespace slimlm::cuda {

namespace {
constexpr size_t kSmallLimit = size_t{1} << 20;
constexpr size_t kSmallUnit = 512;
constexpr size_t kLargeUnit = size_t{2} << 20;

size_t roundUp(size_t value, size_t unit) { return (value + unit - 1) / unit * unit; }
}  // namespace

CachingAllocator::~CachingAllocator() {
  // Blocks still in use belong to tensors that outlive the backend; the process is ending.
  emptyCache();
}

size_t CachingAllocator::roundedSize(size_t bytes) {
  return bytes <= kSmallLimit ? roundUp(bytes, kSmallUnit) : roundUp(bytes, kLargeUnit);
}

void* CachingAllocator::allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  const size_t size = roundedSize(bytes);
  void* block = nullptr;
  size_t blockBytes = size;
  // The smallest cached block that fits, unless it would waste more than a quarter of itself.
  auto fit = cached_.lower_bound(size);
  if (fit != cached_.end() && fit->first - size <= fit->first / 4) {
    block = fit->second;
    blockBytes = fit->first;
    cached_.erase(fit);
    stats_.cachedBlocks--;
    stats_.cacheHits++;
  } else {
    block = memory_.allocate(size);
    if (block == nullptr && !cached_.empty()) {
      emptyCache();
      stats_.evictions++;
      block = memory_.allocate(size);
    }
    if (block == nullptr) return nullptr;
    stats_.rawAllocations++;
    stats_.reservedBytes += size;
    stats_.peakReservedBytes = std::max(stats_.peakReservedBytes, stats_.reservedBytes);
  }
  active_.emplace(block, blockBytes);
  stats_.activeBlocks++;
  stats_.allocatedBytes += blockBytes;
  stats_.peakAllocatedBytes = std::max(stats_.peakAllocatedBytes, stats_.allocatedBytes);
  return block;
}

void CachingAllocator::free(void* block) {
  if (block == nullptr) return;
  auto found = active_.find(block);
  if (found == active_.end()) throw std::invalid_argument("free: not a block of this allocator");
  const size_t size = found->second;
  active_.erase(found);
  stats_.activeBlocks--;
  stats_.allocatedBytes -= size;
  cached_.emplace(size, block);
  stats_.cachedBlocks++;
}

void CachingAllocator::emptyCache() {
  for (auto& [size, block] : cached_) {
    memory_.release(block);
    stats_.reservedBytes -= size;
  }
  cached_.clear();
  stats_.cachedBlocks = 0;
}

size_t CachingAllocator::blockSize(void* block) const {
  auto found = active_.find(block);
  return found == active_.end() ? 0 : found->second;
}

void CachingAllocator::resetPeaks() {
  stats_.peakAllocatedBytes = stats_.allocatedBytes;
  stats_.peakReservedBytes = stats_.reservedBytes;
}

}  // namespace slimlm::cuda
