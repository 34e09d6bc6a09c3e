// The N-API functions of the op family. Each takes the tensors' typed arrays (their storage, read
// and written in place) and one Float64Array of numbers: offsets, shapes and strides in elements,
// then op codes and attributes, in the order each function's comment gives. They simplify the
// layout (see ops.h) and run the kernel of the active ISA.
#include <string>
#include <vector>

#include "ops/ops.h"
#include "runtime/bindings.h"
#include "runtime/runtime.h"

namespace slimlm {
namespace {

const OpsTable& table() {
  switch (activeIsa()) {
    case Isa::avx512: return avx512::opsTable();
    case Isa::avx2: return avx2::opsTable();
    default: return scalar::opsTable();
  }
}

/// Reads the numbers of a call in order.
class Numbers {
 public:
  explicit Numbers(const Napi::Value& value)
      : env_(value.Env()), data_(reinterpret_cast<const double*>(typedArrayData(value, "dims"))),
        size_(value.As<Napi::TypedArray>().ElementLength()) {}

  double real() {
    if (next_ >= size_) throw Napi::RangeError::New(env_, "dims holds too few numbers for this call");
    return data_[next_++];
  }
  int64_t integer() { return static_cast<int64_t>(real()); }
  int32_t rank() {
    const int64_t r = integer();
    if (r < 0 || r > kMaxDims) throw Napi::RangeError::New(env_, "rank must be 0.." + std::to_string(kMaxDims));
    return static_cast<int32_t>(r);
  }

 private:
  Napi::Env env_;
  const double* data_;
  size_t size_;
  size_t next_ = 0;
};

/// A shape with the strides of up to four operands, simplified: size-1 dims dropped, and a dim
/// merged into the one before it when every operand steps over both as one.
struct Layout {
  int32_t rank = 0;
  int32_t operands = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[4][kMaxDims] = {};

  int64_t size() const {
    int64_t total = 1;
    for (int d = 0; d < rank; d++) total *= shape[d];
    return total;
  }

  void read(Numbers& numbers, int32_t dims, int32_t count) {
    rank = dims;
    operands = count;
    for (int d = 0; d < rank; d++) shape[d] = numbers.integer();
    for (int k = 0; k < operands; k++) {
      for (int d = 0; d < rank; d++) strides[k][d] = numbers.integer();
    }
  }

  void simplify() {
    int32_t kept = 0;
    for (int d = 0; d < rank; d++) {
      if (shape[d] == 1) continue;
      if (kept > 0) {
        bool merges = true;
        for (int k = 0; k < operands; k++) merges = merges && strides[k][kept - 1] == strides[k][d] * shape[d];
        if (merges) {
          shape[kept - 1] *= shape[d];
          for (int k = 0; k < operands; k++) strides[k][kept - 1] = strides[k][d];
          continue;
        }
      }
      shape[kept] = shape[d];
      for (int k = 0; k < operands; k++) strides[k][kept] = strides[k][d];
      kept++;
    }
    if (kept == 0) {
      shape[0] = 1;
      for (int k = 0; k < operands; k++) strides[k][0] = 0;
      kept = 1;
    }
    rank = kept;
  }

  void copyTo(int64_t* outShape, int k, int64_t* outStrides) const {
    for (int d = 0; d < rank; d++) {
      if (outShape != nullptr) outShape[d] = shape[d];
      outStrides[d] = strides[k][d];
    }
  }
};

int valueBytes(ValueType type) {
  switch (type) {
    case ValueType::f32:
    case ValueType::i32: return 4;
    case ValueType::u8: return 1;
    default: return 2;
  }
}

/// The typed array's data at `offset` elements of `bytes` bytes.
uint8_t* at(const Napi::Value& value, const char* name, int64_t offset, int64_t bytes) {
  return typedArrayData(value, name) + offset * bytes;
}

bool present(const Napi::Value& value) { return !value.IsNull() && !value.IsUndefined(); }

/// The bytes operand k of a layout can touch, from its first element's address.
void byteRange(const Layout& layout, int k, const void* first, int64_t elementBytes, uintptr_t& low,
               uintptr_t& high) {
  int64_t below = 0, above = 0;
  for (int d = 0; d < layout.rank; d++) {
    const int64_t reach = layout.strides[k][d] * (layout.shape[d] - 1);
    (reach < 0 ? below : above) += reach;
  }
  low = reinterpret_cast<uintptr_t>(first) + below * elementBytes;
  high = reinterpret_cast<uintptr_t>(first) + (above + 1) * elementBytes;
}

/// copy(src, dst, dims): [elementBytes, rank, srcOffset, dstOffset, ...shape, ...srcStrides,
/// ...dstStrides]. When the two views overlap in memory (assign between views of one tensor),
/// src is first copied aside, so that dst receives src as it was.
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Numbers n(info[2]);
  CopyArgs args{};
  args.elementBytes = static_cast<int32_t>(n.integer());
  const int32_t rank = n.rank();
  const int64_t srcOffset = n.integer(), dstOffset = n.integer();
  Layout layout;
  layout.read(n, rank, 2);
  if (layout.size() == 0) return info.Env().Undefined();
  layout.simplify();
  args.rank = layout.rank;
  layout.copyTo(args.shape, 0, args.src.strides);
  layout.copyTo(nullptr, 1, args.dst.strides);
  args.src.data = at(info[0], "src", srcOffset, args.elementBytes);
  args.dst.data = at(info[1], "dst", dstOffset, args.elementBytes);
  uintptr_t srcLow, srcHigh, dstLow, dstHigh;
  byteRange(layout, 0, args.src.data, args.elementBytes, srcLow, srcHigh);
  byteRange(layout, 1, args.dst.data, args.elementBytes, dstLow, dstHigh);
  if (srcLow < dstHigh && dstLow < srcHigh) {
    std::vector<uint8_t> aside(layout.size() * args.elementBytes);
    CopyArgs first = args;
    first.dst.data = aside.data();
    int64_t stride = 1;
    for (int d = layout.rank - 1; d >= 0; d--) {
      first.dst.strides[d] = stride;
      stride *= layout.shape[d];
    }
    table().copy(first, parallel());
    args.src = first.dst;
    table().copy(args, parallel());
    return info.Env().Undefined();
  }
  table().copy(args, parallel());
  return info.Env().Undefined();
}

/// fill(dst, value, dims): [elementBytes, offset, count]; value holds the element's bytes.
Napi::Value Fill(const Napi::CallbackInfo& info) {
  Numbers n(info[2]);
  FillArgs args{};
  args.elementBytes = static_cast<int32_t>(n.integer());
  const int64_t offset = n.integer();
  args.count = n.integer();
  args.dst = at(info[0], "dst", offset, args.elementBytes);
  args.value = typedArrayData(info[1], "value");
  table().fill(args, parallel());
  return info.Env().Undefined();
}

/// select(out, cond, a, b, dims): [elementBytes, rank, outOffset, condOffset, aOffset, bOffset,
/// ...shape, ...outStrides, ...condStrides, ...aStrides, ...bStrides].
Napi::Value Select(const Napi::CallbackInfo& info) {
  Numbers n(info[4]);
  SelectArgs args{};
  args.elementBytes = static_cast<int32_t>(n.integer());
  const int32_t rank = n.rank();
  int64_t offsets[4];
  for (auto& offset : offsets) offset = n.integer();
  Layout layout;
  layout.read(n, rank, 4);
  if (layout.size() == 0) return info.Env().Undefined();
  layout.simplify();
  args.rank = layout.rank;
  layout.copyTo(args.shape, 0, args.out.strides);
  layout.copyTo(nullptr, 1, args.cond.strides);
  layout.copyTo(nullptr, 2, args.a.strides);
  layout.copyTo(nullptr, 3, args.b.strides);
  args.out.data = at(info[0], "out", offsets[0], args.elementBytes);
  args.cond.data = at(info[1], "cond", offsets[1], 1);
  args.a.data = at(info[2], "a", offsets[2], args.elementBytes);
  args.b.data = at(info[3], "b", offsets[3], args.elementBytes);
  table().select(args, parallel());
  return info.Env().Undefined();
}

/// map(out, a, b, dims): [op, inputs, param0, param1, outType, outOffset, aType, aOffset, bType,
/// bOffset, rank, ...shape, ...outStrides, ...aStrides, ...bStrides]; b (and its numbers, which
/// are still sent) is ignored for one input.
Napi::Value Map(const Napi::CallbackInfo& info) {
  Numbers n(info[3]);
  MapArgs args{};
  args.op = static_cast<MapOp>(n.integer());
  args.inputs = static_cast<int32_t>(n.integer());
  args.params[0] = static_cast<float>(n.real());
  args.params[1] = static_cast<float>(n.real());
  Operand* operands[3] = {&args.out, &args.in[0], &args.in[1]};
  int64_t offsets[3];
  for (int k = 0; k < 3; k++) {
    operands[k]->type = static_cast<ValueType>(n.integer());
    offsets[k] = n.integer();
  }
  const int32_t rank = n.rank();
  Layout layout;
  layout.read(n, rank, 1 + args.inputs);
  if (layout.size() == 0) return info.Env().Undefined();
  layout.simplify();
  args.rank = layout.rank;
  layout.copyTo(args.shape, 0, args.out.strides);
  const char* names[3] = {"out", "a", "b"};
  for (int k = 0; k < 1 + args.inputs; k++) {
    if (k > 0) layout.copyTo(nullptr, k, operands[k]->strides);
    operands[k]->data = at(info[k], names[k], offsets[k], valueBytes(operands[k]->type));
  }
  table().map(args, parallel());
  return info.Env().Undefined();
}

/// reduce(x, out, dims): [op, xOffset, outOffset, rank, ...shape, ...strides, ...reduced (1 for
/// each reduced axis, else 0)]; x is f32, out f32 (i32 for argmax) and contiguous.
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Numbers n(info[2]);
  ReduceArgs args{};
  args.op = static_cast<ReduceOp>(n.integer());
  const int64_t xOffset = n.integer(), outOffset = n.integer();
  const int32_t rank = n.rank();
  int64_t shape[kMaxDims], strides[kMaxDims];
  bool reduced[kMaxDims];
  for (int d = 0; d < rank; d++) shape[d] = n.integer();
  for (int d = 0; d < rank; d++) strides[d] = n.integer();
  for (int d = 0; d < rank; d++) reduced[d] = n.integer() != 0;
  Layout kept, folded;
  kept.operands = folded.operands = 1;
  bool empty = false;
  for (int d = 0; d < rank; d++) {
    Layout& part = reduced[d] ? folded : kept;
    part.shape[part.rank] = shape[d];
    part.strides[0][part.rank] = strides[d];
    part.rank++;
    if (reduced[d] && shape[d] == 0) empty = true;
  }
  if (kept.size() == 0) return info.Env().Undefined();
  kept.simplify();
  if (kept.rank == 1 && kept.shape[0] == 1) kept.rank = 0;
  folded.simplify();
  if (empty) {
    folded.rank = 1;
    folded.shape[0] = 0;
  }
  args.keptRank = kept.rank;
  kept.copyTo(args.keptShape, 0, args.keptStrides);
  args.reducedRank = folded.rank;
  folded.copyTo(args.reducedShape, 0, args.reducedStrides);
  args.x = reinterpret_cast<const float*>(at(info[0], "x", xOffset, 4));
  args.out = at(info[1], "out", outOffset, 4);
  table().reduce(args, parallel());
  return info.Env().Undefined();
}

/// softmax(x, out, dims): [log, axis, xOffset, outOffset, rank, ...shape, ...xStrides,
/// ...outStrides]; f32.
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Numbers n(info[2]);
  SoftmaxArgs args{};
  args.log = n.integer() != 0;
  const int64_t axis = n.integer();
  const int64_t xOffset = n.integer(), outOffset = n.integer();
  const int32_t rank = n.rank();
  Layout all;
  all.read(n, rank, 2);
  if (all.size() == 0) return info.Env().Undefined();
  Layout lanes;
  lanes.operands = 2;
  for (int d = 0; d < rank; d++) {
    if (d == axis) continue;
    lanes.shape[lanes.rank] = all.shape[d];
    lanes.strides[0][lanes.rank] = all.strides[0][d];
    lanes.strides[1][lanes.rank] = all.strides[1][d];
    lanes.rank++;
  }
  lanes.simplify();
  args.rank = lanes.rank;
  lanes.copyTo(args.shape, 0, args.xStrides);
  lanes.copyTo(nullptr, 1, args.outStrides);
  args.length = all.shape[axis];
  args.xStep = all.strides[0][axis];
  args.outStep = all.strides[1][axis];
  args.x = reinterpret_cast<const float*>(at(info[0], "x", xOffset, 4));
  args.out = reinterpret_cast<float*>(at(info[1], "out", outOffset, 4));
  table().softmax(args, parallel());
  return info.Env().Undefined();
}

/// Splits off the last dim: the others become simplified lanes over `count` operands.
Layout leadingDims(const Layout& all, int32_t count) {
  Layout lanes;
  lanes.operands = count;
  lanes.rank = all.rank - 1;
  for (int d = 0; d < lanes.rank; d++) {
    lanes.shape[d] = all.shape[d];
    for (int k = 0; k < count; k++) lanes.strides[k][d] = all.strides[k][d];
  }
  lanes.simplify();
  return lanes;
}

/// norm(x, weight, bias, out, dims): [center, eps, xOffset, weightOffset, biasOffset, outOffset,
/// rank, ...shape, ...xStrides]; f32, weight and bias contiguous or null, out contiguous.
Napi::Value Norm(const Napi::CallbackInfo& info) {
  Numbers n(info[4]);
  NormArgs args{};
  args.center = n.integer() != 0;
  args.eps = n.real();
  int64_t offsets[4];
  for (auto& offset : offsets) offset = n.integer();
  const int32_t rank = n.rank();
  Layout all;
  all.read(n, rank, 1);
  if (all.size() == 0) return info.Env().Undefined();
  const Layout rows = leadingDims(all, 1);
  args.rank = rows.rank;
  rows.copyTo(args.shape, 0, args.xStrides);
  args.length = all.shape[rank - 1];
  args.xStep = all.strides[0][rank - 1];
  args.x = reinterpret_cast<const float*>(at(info[0], "x", offsets[0], 4));
  if (present(info[1])) args.weight = reinterpret_cast<const float*>(at(info[1], "weight", offsets[1], 4));
  if (present(info[2])) args.bias = reinterpret_cast<const float*>(at(info[2], "bias", offsets[2], 4));
  args.out = reinterpret_cast<float*>(at(info[3], "out", offsets[3], 4));
  table().norm(args, parallel());
  return info.Env().Undefined();
}

/// rotary(x, cos, sin, out, dims): [rotaryDim, xOffset, cosOffset, sinOffset, outOffset, rank,
/// ...shape (x's), ...xStrides, ...cosStrides, ...sinStrides]; f32, out contiguous.
Napi::Value Rotary(const Napi::CallbackInfo& info) {
  Numbers n(info[4]);
  RotaryArgs args{};
  args.rotaryDim = n.integer();
  int64_t offsets[4];
  for (auto& offset : offsets) offset = n.integer();
  const int32_t rank = n.rank();
  Layout all;
  all.read(n, rank, 3);
  if (all.size() == 0) return info.Env().Undefined();
  const Layout rows = leadingDims(all, 3);
  args.rank = rows.rank;
  rows.copyTo(args.shape, 0, args.xStrides);
  rows.copyTo(nullptr, 1, args.cosStrides);
  rows.copyTo(nullptr, 2, args.sinStrides);
  args.width = all.shape[rank - 1];
  args.xStep = all.strides[0][rank - 1];
  args.cosStep = all.strides[1][rank - 1];
  args.sinStep = all.strides[2][rank - 1];
  args.x = reinterpret_cast<const float*>(at(info[0], "x", offsets[0], 4));
  args.cos = reinterpret_cast<const float*>(at(info[1], "cos", offsets[1], 4));
  args.sin = reinterpret_cast<const float*>(at(info[2], "sin", offsets[2], 4));
  args.out = reinterpret_cast<float*>(at(info[3], "out", offsets[3], 4));
  table().rotary(args, parallel());
  return info.Env().Undefined();
}

/// attention(q, k, v, mask, out, dims): [batch, queryHeads, kvHeads, queryLength, keyLength,
/// depth, valueDepth, causal, scale, qOffset, kOffset, vOffset, maskOffset, outOffset,
/// ...qStrides(3), ...kStrides(3), ...vStrides(3), ...maskStrides(4)]; f32, mask null or any
/// strides, out contiguous.
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Numbers n(info[5]);
  AttentionArgs args{};
  args.batch = n.integer();
  args.queryHeads = n.integer();
  args.kvHeads = n.integer();
  args.queryLength = n.integer();
  args.keyLength = n.integer();
  args.depth = n.integer();
  args.valueDepth = n.integer();
  args.causal = n.integer() != 0;
  args.scale = static_cast<float>(n.real());
  int64_t offsets[5];
  for (auto& offset : offsets) offset = n.integer();
  for (auto& s : args.qStrides) s = n.integer();
  for (auto& s : args.kStrides) s = n.integer();
  for (auto& s : args.vStrides) s = n.integer();
  for (auto& s : args.maskStrides) s = n.integer();
  if (args.batch * args.queryHeads * args.queryLength * args.valueDepth == 0) return info.Env().Undefined();
  args.q = reinterpret_cast<const float*>(at(info[0], "q", offsets[0], 4));
  args.k = reinterpret_cast<const float*>(at(info[1], "k", offsets[1], 4));
  args.v = reinterpret_cast<const float*>(at(info[2], "v", offsets[2], 4));
  if (present(info[3])) args.mask = reinterpret_cast<const float*>(at(info[3], "mask", offsets[3], 4));
  args.out = reinterpret_cast<float*>(at(info[4], "out", offsets[4], 4));
  table().attention(args, parallel());
  return info.Env().Undefined();
}

/// crossEntropy(logits, targets, losses, dims): [classes, classStep, ignoreIndex, logitsOffset,
/// rank, ...shape, ...strides] with shape and strides of the rows (logits without the class
/// dim); targets an Int32Array and losses a Float64Array, one per row.
Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  Numbers n(info[3]);
  CrossEntropyArgs args{};
  args.classes = n.integer();
  args.classStep = n.integer();
  args.ignoreIndex = static_cast<int32_t>(n.integer());
  const int64_t offset = n.integer();
  const int32_t rank = n.rank();
  Layout rows;
  rows.read(n, rank, 1);
  if (rows.size() == 0) return info.Env().Undefined();
  rows.simplify();
  args.rank = rows.rank;
  rows.copyTo(args.shape, 0, args.strides);
  args.logits = reinterpret_cast<const float*>(at(info[0], "logits", offset, 4));
  args.targets = reinterpret_cast<const int32_t*>(typedArrayData(info[1], "targets"));
  args.losses = reinterpret_cast<double*>(typedArrayData(info[2], "losses"));
  table().crossEntropy(args, parallel());
  return info.Env().Undefined();
}

/// gather(x, indices, out, dims): [elementBytes, axis, xOffset, outOffset, count, rank,
/// ...shape, ...strides] (x's); indices an Int32Array of count in-range values, out contiguous.
Napi::Value Gather(const Napi::CallbackInfo& info) {
  Numbers n(info[3]);
  GatherArgs args{};
  args.elementBytes = static_cast<int32_t>(n.integer());
  const int64_t axis = n.integer();
  const int64_t xOffset = n.integer(), outOffset = n.integer();
  args.count = n.integer();
  const int32_t rank = n.rank();
  Layout all;
  all.read(n, rank, 1);
  Layout outer, inner;
  outer.operands = inner.operands = 1;
  for (int d = 0; d < rank; d++) {
    if (d == axis) continue;
    Layout& part = d < axis ? outer : inner;
    part.shape[part.rank] = all.shape[d];
    part.strides[0][part.rank] = all.strides[0][d];
    part.rank++;
  }
  if (outer.size() * inner.size() * args.count == 0) return info.Env().Undefined();
  outer.simplify();
  inner.simplify();
  args.outerRank = outer.rank;
  outer.copyTo(args.outerShape, 0, args.outerStrides);
  args.innerRank = inner.rank;
  inner.copyTo(args.innerShape, 0, args.innerStrides);
  args.axisStride = all.strides[0][axis];
  args.x = at(info[0], "x", xOffset, args.elementBytes);
  args.indices = reinterpret_cast<const int32_t*>(typedArrayData(info[1], "indices"));
  args.out = at(info[2], "out", outOffset, args.elementBytes);
  table().gather(args, parallel());
  return info.Env().Undefined();
}

/// scatterAdd(out, indices, updates, dims): [outer, dim, inner, count, outOffset,
/// updatesOffset]; f32, contiguous, out already holding the target.
Napi::Value ScatterAdd(const Napi::CallbackInfo& info) {
  Numbers n(info[3]);
  ScatterAddArgs args{};
  args.outer = n.integer();
  args.dim = n.integer();
  args.inner = n.integer();
  args.count = n.integer();
  const int64_t outOffset = n.integer(), updatesOffset = n.integer();
  if (args.outer * args.inner * args.count == 0) return info.Env().Undefined();
  args.out = reinterpret_cast<float*>(at(info[0], "out", outOffset, 4));
  args.indices = reinterpret_cast<const int32_t*>(typedArrayData(info[1], "indices"));
  args.updates = reinterpret_cast<const float*>(at(info[2], "updates", updatesOffset, 4));
  table().scatterAdd(args, parallel());
  return info.Env().Undefined();
}

}  // namespace

void registerOpsBindings(Napi::Env env, Napi::Object exports) {
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("fill", Napi::Function::New(env, Fill));
  exports.Set("select", Napi::Function::New(env, Select));
  exports.Set("map", Napi::Function::New(env, Map));
  exports.Set("reduce", Napi::Function::New(env, Reduce));
  exports.Set("softmax", Napi::Function::New(env, Softmax));
  exports.Set("norm", Napi::Function::New(env, Norm));
  exports.Set("rotary", Napi::Function::New(env, Rotary));
  exports.Set("attention", Napi::Function::New(env, Attention));
  exports.Set("crossEntropy", Napi::Function::New(env, CrossEntropy));
  exports.Set("gather", Napi::Function::New(env, Gather));
  exports.Set("scatterAdd", Napi::Function::New(env, ScatterAdd));
}

}  // namespace slimlm
