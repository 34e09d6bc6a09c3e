// softmax and logSoftmax along any axis, rmsNorm and layerNorm over the last: f32 in and out,
// statistics in f64. Lanes that are not contiguous are gathered into a buffer first.
#include <math.h>
#include <stdlib.h>

#include "ops/ops.h"
#include "ops/simd.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

/// softmax (or logSoftmax) of n contiguous floats. A NaN, or a max of +-Inf, makes the whole
/// lane NaN, as the reference's e^(x - max) sums have it.
void softmaxRow(const float* x, float* out, int64_t n, bool log) {
  if (n == 0) return;
  const float shift = maxF32(x, n);
  const vf s = vset(shift);
  vd lo = vdzero(), hi = vdzero();
  double tail = 0;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const vf e = vexp(vsub(vload(x + i), s));
    if (!log) vstore(out + i, e);
    lo = vdadd(lo, vdlow(e));
    hi = vdadd(hi, vdhigh(e));
  }
  if (i < n) {
    alignas(64) float lanes[kLanes];
    vstore(lanes, vexp(vsub(vloadPart(x + i, n - i), s)));
    for (int64_t l = 0; l < n - i; l++) {
      tail += lanes[l];
      if (!log) out[i + l] = lanes[l];
    }
  }
  const double total = vdsum(vdadd(lo, hi)) + tail;
  if (log) {
    const vf offset = vset(static_cast<float>(::log(total)));
    unaryLoop(n, x, out, [s, offset](vf v) { return vsub(vsub(v, s), offset); });
  } else {
    const vf scale = vset(static_cast<float>(1.0 / total));
    unaryLoop(n, out, out, [scale](vf v) { return vmul(v, scale); });
  }
}

void softmaxTasks(void* ctx, int64_t begin, int64_t end) {
  const SoftmaxArgs& a = *static_cast<const SoftmaxArgs*>(ctx);
  const bool dense = a.xStep == 1 && a.outStep == 1;
  float* buffer = dense ? nullptr : static_cast<float*>(malloc(2 * a.length * sizeof(float)));
  Odometer lanes{a.rank, a.shape, {}, {}, {a.xStrides, a.outStrides}, 2};
  lanes.start(begin);
  for (int64_t lane = begin; lane < end; lane++) {
    const float* x = a.x + lanes.offset[0];
    float* out = a.out + lanes.offset[1];
    lanes.next();
    if (dense) {
      softmaxRow(x, out, a.length, a.log);
      continue;
    }
    for (int64_t i = 0; i < a.length; i++) buffer[i] = x[i * a.xStep];
    softmaxRow(buffer, buffer + a.length, a.length, a.log);
    for (int64_t i = 0; i < a.length; i++) out[i * a.outStep] = buffer[a.length + i];
  }
  free(buffer);
}

/// ((x - center) * scale) * weight + bias in f64 for a row of n, rounded once, in the
/// reference's order of operations.
void normalizeRow(const NormArgs& a, const float* x, float* out, double center, double scale) {
  const int64_t n = a.length;
  const vd c = vdset(center), s = vdset(scale);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const vf v = vload(x + i);
    vd lo = vdmul(vdsub(vdlow(v), c), s);
    vd hi = vdmul(vdsub(vdhigh(v), c), s);
    if (a.weight != nullptr) {
      const vf w = vload(a.weight + i);
      lo = vdmul(lo, vdlow(w));
      hi = vdmul(hi, vdhigh(w));
    }
    if (a.bias != nullptr) {
      const vf b = vload(a.bias + i);
      lo = vdadd(lo, vdlow(b));
      hi = vdadd(hi, vdhigh(b));
    }
    vstore(out + i, vfromd(lo, hi));
  }
  for (; i < n; i++) {
    double y = (static_cast<double>(x[i]) - center) * scale;
    if (a.weight != nullptr) y *= a.weight[i];
    if (a.bias != nullptr) y += a.bias[i];
    out[i] = static_cast<float>(y);
  }
}

void normRow(const NormArgs& a, const float* x, float* out) {
  const int64_t n = a.length;
  double center = 0;
  if (a.center) center = sumF64(x, n) / static_cast<double>(n);
  const vd c = vdset(center);
  vd lo = vdzero(), hi = vdzero();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const vf v = vload(x + i);
    const vd dlo = vdsub(vdlow(v), c);
    lo = vdfma(dlo, dlo, lo);
    // One lane (the scalar build) has no high half to square.
    if (kLanes > 1) {
      const vd dhi = vdsub(vdhigh(v), c);
      hi = vdfma(dhi, dhi, hi);
    }
  }
  double squares = vdsum(vdadd(lo, hi));
  for (; i < n; i++) {
    const double d = static_cast<double>(x[i]) - center;
    squares += d * d;
  }
  const double scale = 1.0 / sqrt(squares / static_cast<double>(n) + a.eps);
  normalizeRow(a, x, out, center, scale);
}

void normTasks(void* ctx, int64_t begin, int64_t end) {
  const NormArgs& a = *static_cast<const NormArgs*>(ctx);
  const bool dense = a.xStep == 1;
  float* buffer = dense ? nullptr : static_cast<float*>(malloc(a.length * sizeof(float)));
  Odometer rows{a.rank, a.shape, {}, {}, {a.xStrides}, 1};
  rows.start(begin);
  for (int64_t row = begin; row < end; row++) {
    const float* x = a.x + rows.offset[0];
    rows.next();
    if (!dense) {
      for (int64_t i = 0; i < a.length; i++) buffer[i] = x[i * a.xStep];
      x = buffer;
    }
    normRow(a, x, a.out + row * a.length);
  }
  free(buffer);
}

}  // namespace

void softmax(const SoftmaxArgs& args, const Parallel& parallel) {
  parallel(product(args.shape, args.rank), grainFor(4 * args.length), softmaxTasks, const_cast<SoftmaxArgs*>(&args));
}

void norm(const NormArgs& args, const Parallel& parallel) {
  parallel(product(args.shape, args.rank), grainFor(2 * args.length), normTasks, const_cast<NormArgs*>(&args));
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
