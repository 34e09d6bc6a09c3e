// Host-side pieces of the device code, exposed for the unit tests, which run on machines without
// a GPU: the launch plans, the GPTQ unpacking the kernels use (the very same functions, compiled
// for the host), and the caching allocator over simulated memory.
#include <napi.h>

#include <cstring>
#include <string>
#include <unordered_map>

#include "bindings/bindings.h"
#include "bindings/js.h"
#include "common/gptq_packing.h"
#include "common/plans.h"
#include "kernels/linalg.h"
#include "runtime/allocator.h"

namespace slimlm::cuda {
namespace {

using js::integer;

/// plan(kind, dims): the launch plan of 'quantMatmul', 'matmul', 'attention', 'cholesky' or
/// 'gptqQuantizeBlock' for the given dimensions, as the kernels would choose it on a GPU with
/// `multiprocessors`.
Napi::Value plan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string kind = info[0].As<Napi::String>().Utf8Value();
  const Napi::Object d = info[1].As<Napi::Object>();
  Napi::Object out = Napi::Object::New(env);
  if (kind == "quantMatmul") {
    const QuantMatmulPlan p = planQuantMatmul(integer(d, "m"), integer(d, "n"), integer(d, "k"),
                                              static_cast<int>(integer(d, "multiprocessors")));
    out.Set("kernel", p.gemv ? "gemv" : "gemm");
    out.Set("columnsPerThread", p.columnsPerThread);
    out.Set("columnBlocks", static_cast<double>(p.columnBlocks));
    out.Set("kSplit", static_cast<double>(p.kSplit));
    out.Set("kBlocksPerSplit", static_cast<double>(p.kBlocksPerSplit));
    out.Set("workspaceFloats", static_cast<double>(p.workspaceFloats));
    out.Set("tilesM", static_cast<double>(p.tilesM));
    out.Set("tilesN", static_cast<double>(p.tilesN));
    out.Set("tileM", kQuantTileM);
    out.Set("tileN", kQuantTileN);
    out.Set("warps", kQuantGemvWarps);
  } else if (kind == "matmul") {
    const GemmPlan p = planGemm(integer(d, "batch"), integer(d, "m"), integer(d, "n"), integer(d, "k"),
                                js::flag(d, "halfOperands"), js::flag(d, "tensorCoreLayout"));
    const char* names[] = {"gemv", "tensorCore", "simt"};
    out.Set("kernel", names[static_cast<int>(p.kind)]);
    out.Set("tilesM", static_cast<double>(p.tilesM));
    out.Set("tilesN", static_cast<double>(p.tilesN));
    out.Set("sharedBytes", static_cast<double>(p.sharedBytes));
    const bool tc = p.kind == GemmKind::tensorCore;
    out.Set("tileM", tc ? kGemmTileM : kSimtTileM);
    out.Set("tileN", tc ? kGemmTileN : kSimtTileN);
  } else if (kind == "attention") {
    const AttentionPlan p = planAttention(integer(d, "batch"), integer(d, "heads"), integer(d, "queries"),
                                          integer(d, "depth"), integer(d, "valueDepth"));
    out.Set("kernel", p.decode ? "decode" : "prefill");
    out.Set("blocks", static_cast<double>(p.blocks));
    out.Set("sharedBytes", static_cast<double>(p.sharedBytes));
    out.Set("queriesPerBlock", p.decode ? 1 : kAttentionQueriesPerBlock);
    out.Set("maxDepth", static_cast<double>(kAttentionMaxDepth));
  } else if (kind == "cholesky") {
    const CholeskyPlan p = planCholesky(integer(d, "n"));
    out.Set("tile", kLinalgTile);
    out.Set("tiles", static_cast<double>(p.tiles));
    out.Set("tileColumns", static_cast<double>(p.tileColumns));
    out.Set("productBlocks", static_cast<double>(p.productBlocks));
    out.Set("diagonalSharedBytes", static_cast<double>(p.diagonalSharedBytes));
    out.Set("productSharedBytes", static_cast<double>(p.productSharedBytes));
    out.Set("scratchFloats", static_cast<double>(p.scratchFloats));
  } else if (kind == "gptqQuantizeBlock") {
    const GptqBlockPlan p = planGptqBlock(integer(d, "rows"), integer(d, "cols"),
                                          static_cast<int>(integer(d, "multiprocessors")));
    out.Set("kernel", p.registers ? "registers" : "wide");
    out.Set("slots", p.slots);
    out.Set("blocks", static_cast<double>(p.blocks));
    out.Set("warps", kGptqWarps);
    out.Set("sharedBytes", static_cast<double>(p.sharedBytes));
  } else {
    throw std::invalid_argument("plan: unknown kind '" + kind + "'");
  }
  return out;
}

template <typename T>
const T* dataOf(const Napi::Value& v) {
  const Napi::TypedArray a = v.As<Napi::TypedArray>();
  return reinterpret_cast<const T*>(static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset());
}

/// gptqDequantize({qweight, qzeros, scales, scaleType, bits, n, k, groupSize, zeroOffset, gIdx?})
/// -> Float32Array [n * k]: the device's weightAt, run on the host.
Napi::Value gptqDequantize(const Napi::CallbackInfo& info) {
  const Napi::Object o = info[0].As<Napi::Object>();
  gptq::Packed w{};
  w.qweight = dataOf<int32_t>(o.Get("qweight"));
  w.qzeros = dataOf<int32_t>(o.Get("qzeros"));
  w.scales = dataOf<void>(o.Get("scales"));
  w.scaleType = js::dtype(o, "scaleType");
  w.bits = static_cast<int>(integer(o, "bits"));
  w.n = integer(o, "n");
  w.k = integer(o, "k");
  w.groupSize = integer(o, "groupSize");
  w.zeroOffset = static_cast<int>(integer(o, "zeroOffset"));
  const Napi::Value gIdxValue = o.Get("gIdx");
  const int32_t* gIdx = gIdxValue.IsTypedArray() ? dataOf<int32_t>(gIdxValue) : nullptr;
  Napi::Float32Array out = Napi::Float32Array::New(info.Env(), static_cast<size_t>(w.n * w.k));
  for (int64_t col = 0; col < w.n; col++)
    for (int64_t k = 0; k < w.k; k++)
      out[static_cast<size_t>(col * w.k + k)] = gptq::weightAt(w, k, col, gIdx ? gIdx[k] : k / w.groupSize);
  return out;
}

template <int B>
void blockCodes(const uint32_t* source, Napi::Int32Array& out) {
  uint32_t words[B];
  std::memcpy(words, source, sizeof words);
  for (int j = 0; j < gptq::kBlock; j++) out[j] = static_cast<int32_t>(gptq::blockCode<B>(words, j));
}

/// gptqBlockCodes(words: Uint32Array of `bits` words, bits) -> Int32Array [32]: the unrolled
/// extraction the GEMV kernel uses.
Napi::Value gptqBlockCodes(const Napi::CallbackInfo& info) {
  const uint32_t* words = dataOf<uint32_t>(info[0]);
  const int bits = info[1].As<Napi::Number>().Int32Value();
  if (info[0].As<Napi::TypedArray>().ElementLength() != static_cast<size_t>(bits))
    throw std::invalid_argument("gptqBlockCodes: a block is `bits` words");
  Napi::Int32Array out = Napi::Int32Array::New(info.Env(), gptq::kBlock);
  switch (bits) {
    case 2: blockCodes<2>(words, out); break;
    case 3: blockCodes<3>(words, out); break;
    case 4: blockCodes<4>(words, out); break;
    case 8: blockCodes<8>(words, out); break;
    default: throw std::invalid_argument("gptqBlockCodes: bits must be 2, 3, 4 or 8");
  }
  return out;
}

/// gptqCodeFields(bits) -> [{word, shift, straddles}] for the 32 codes of a block.
Napi::Value gptqCodeFields(const Napi::CallbackInfo& info) {
  const int bits = info[0].As<Napi::Number>().Int32Value();
  Napi::Array out = Napi::Array::New(info.Env(), gptq::kBlock);
  for (int j = 0; j < gptq::kBlock; j++) {
    const gptq::CodeField f = gptq::codeField(bits, j);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("word", f.word);
    o.Set("shift", f.shift);
    o.Set("straddles", f.straddles);
    out.Set(static_cast<uint32_t>(j), o);
  }
  return out;
}

/// Simulated device memory: addresses counted up from 4096, at most `capacity` bytes in use.
class SimulatedMemory : public RawMemory {
 public:
  explicit SimulatedMemory(size_t capacity) : capacity_(capacity) {}
  void* allocate(size_t bytes) override {
    if (used_ + bytes > capacity_) return nullptr;
    used_ += bytes;
    sizes_[next_] = bytes;
    void* block = reinterpret_cast<void*>(next_);
    next_ += bytes + 4096;
    return block;
  }
  void release(void* block) override {
    auto found = sizes_.find(reinterpret_cast<uintptr_t>(block));
    if (found == sizes_.end()) throw std::logic_error("release of an unknown block");
    used_ -= found->second;
    sizes_.erase(found);
  }
  size_t used() const { return used_; }

 private:
  size_t capacity_, used_ = 0;
  uintptr_t next_ = 4096;
  std::unordered_map<uintptr_t, size_t> sizes_;
};

/// new SimulatedAllocator(capacityBytes): the caching allocator over SimulatedMemory, with
/// allocate(bytes) -> address | null, free(address), emptyCache(), resetPeaks(), stats(),
/// rawBytesInUse() and the static roundedSize(bytes).
class SimulatedAllocator : public Napi::ObjectWrap<SimulatedAllocator> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "SimulatedAllocator",
                       {InstanceMethod<&SimulatedAllocator::allocate>("allocate"),
                        InstanceMethod<&SimulatedAllocator::release>("free"),
                        InstanceMethod<&SimulatedAllocator::emptyCache>("emptyCache"),
                        InstanceMethod<&SimulatedAllocator::resetPeaks>("resetPeaks"),
                        InstanceMethod<&SimulatedAllocator::stats>("stats"),
                        InstanceMethod<&SimulatedAllocator::rawBytesInUse>("rawBytesInUse"),
                        StaticMethod<&SimulatedAllocator::roundedSize>("roundedSize")});
  }

  explicit SimulatedAllocator(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<SimulatedAllocator>(info),
        memory_(static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue())),
        allocator_(memory_) {}

 private:
  Napi::Value allocate(const Napi::CallbackInfo& info) {
    void* block = allocator_.allocate(static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue()));
    if (block == nullptr) return info.Env().Null();
    return js::address(info.Env(), block);
  }
  Napi::Value release(const Napi::CallbackInfo& info) {
    try {
      allocator_.free(reinterpret_cast<void*>(static_cast<uintptr_t>(info[0].As<Napi::Number>().DoubleValue())));
    } catch (const std::exception& e) {
      throw js::toJsError(info.Env(), e);
    }
    return info.Env().Undefined();
  }
  Napi::Value emptyCache(const Napi::CallbackInfo& info) {
    allocator_.emptyCache();
    return info.Env().Undefined();
  }
  Napi::Value resetPeaks(const Napi::CallbackInfo& info) {
    allocator_.resetPeaks();
    return info.Env().Undefined();
  }
  Napi::Value stats(const Napi::CallbackInfo& info) { return statsObject(info.Env(), allocator_.stats()); }
  Napi::Value rawBytesInUse(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(memory_.used()));
  }
  static Napi::Value roundedSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(CachingAllocator::roundedSize(
                                             static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue()))));
  }

  SimulatedMemory memory_;
  CachingAllocator allocator_;
};

}  // namespace

void registerHost(Napi::Env env, Napi::Object exports) {
  js::define<plan>(env, exports, "plan");
  js::define<gptqDequantize>(env, exports, "gptqDequantize");
  js::define<gptqBlockCodes>(env, exports, "gptqBlockCodes");
  js::define<gptqCodeFields>(env, exports, "gptqCodeFields");
  exports.Set("SimulatedAllocator", SimulatedAllocator::define(env));
}

}  // namespace slimlm::cuda
