// Reductions of f32 over any set of axes: sum, mean, max, min, argmax and logsumexp. Sums
// accumulate in f64, so that long rows lose nothing against the reference's f64.
//
// Two shapes of work: each output folds its reduced elements, vectorized along the innermost
// reduced dim when it is contiguous ("rows"); or, when the innermost kept dim is the contiguous
// one (sum over the leading axes, as a bias gradient does), blocks of neighbouring outputs fold
// together, vectorized across outputs ("columns").
#include <math.h>

#include "ops/ops.h"
#include "ops/simd.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

/// The running state of one output's fold.
struct Fold {
  double sum = 0;
  float extreme = 0;
  bool nan = false;
  int64_t seen = 0;
};

/// Folds the n elements `stride` apart at x into f for op (max and min track NaN separately).
void foldRun(ReduceOp op, const float* x, int64_t stride, int64_t n, Fold& f) {
  if (n == 0) return;
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::mean:
      if (stride == 1) {
        f.sum += sumF64(x, n);
      } else {
        double total = 0;
        for (int64_t i = 0; i < n; i++) total += x[i * stride];
        f.sum += total;
      }
      break;
    case ReduceOp::max:
    case ReduceOp::logsumexp: {
      float best = f.seen == 0 ? -INFINITY : f.extreme;
      if (stride == 1) {
        const float m = maxF32(x, n);
        if (m != m) f.nan = true;
        else if (m > best) best = m;
      } else {
        for (int64_t i = 0; i < n; i++) {
          const float v = x[i * stride];
          if (v != v) f.nan = true;
          else if (v > best) best = v;
        }
      }
      f.extreme = best;
      break;
    }
    case ReduceOp::min: {
      float best = f.seen == 0 ? INFINITY : f.extreme;
      if (stride == 1) {
        vf low = vset(INFINITY);
        vm nan = mnone();
        int64_t i = 0;
        for (; i + kLanes <= n; i += kLanes) {
          const vf v = vload(x + i);
          nan = mor(nan, visnan(v));
          low = vminRaw(v, low);
        }
        if (many(nan)) f.nan = true;
        alignas(64) float lanes[kLanes];
        vstore(lanes, low);
        for (int l = 0; l < kLanes; l++) best = lanes[l] < best ? lanes[l] : best;
        for (; i < n; i++) {
          if (x[i] != x[i]) f.nan = true;
          else if (x[i] < best) best = x[i];
        }
      } else {
        for (int64_t i = 0; i < n; i++) {
          const float v = x[i * stride];
          if (v != v) f.nan = true;
          else if (v < best) best = v;
        }
      }
      f.extreme = best;
      break;
    }
    default: break;
  }
  f.seen += n;
}

/// sum of e^(x - shift) over n elements `stride` apart, in f64.
double expSum(const float* x, int64_t stride, int64_t n, float shift) {
  if (stride == 1) return expSumF64(x, n, shift);
  double total = 0;
  for (int64_t i = 0; i < n; i++) total += exp(static_cast<double>(x[i * stride]) - shift);
  return total;
}

/// First position (in the reduced dims' row-major order) of the first NaN, else of the first
/// maximum: the reference's argmax.
int64_t argmaxOf(const ReduceArgs& r, const float* x) {
  const int32_t last = r.reducedRank - 1;
  const int64_t n = r.reducedShape[last], stride = r.reducedStrides[last];
  const int64_t runs = product(r.reducedShape, last);
  Fold f;
  Odometer walk{last, r.reducedShape, {}, {}, {r.reducedStrides}, 1};
  walk.start(0);
  for (int64_t run = 0; run < runs; run++) {
    foldRun(ReduceOp::max, x + walk.offset[0], stride, n, f);
    walk.next();
  }
  walk.start(0);
  for (int64_t run = 0; run < runs; run++) {
    const float* p = x + walk.offset[0];
    for (int64_t i = 0; i < n; i++) {
      const float v = p[i * stride];
      if (f.nan ? v != v : v == f.extreme) return run * n + i;
    }
    walk.next();
  }
  return 0;
}

float finish(ReduceOp op, const Fold& f, double logTotal) {
  switch (op) {
    case ReduceOp::sum: return static_cast<float>(f.sum);
    case ReduceOp::mean: return static_cast<float>(f.sum / static_cast<double>(f.seen));
    case ReduceOp::logsumexp:
      if (f.nan) return NAN;
      if (f.seen == 0 || __builtin_isinf(f.extreme)) return f.seen == 0 ? -INFINITY : f.extreme;
      return static_cast<float>(static_cast<double>(f.extreme) + logTotal);
    default: return f.nan ? NAN : f.extreme;
  }
}

void rowTasks(void* ctx, int64_t begin, int64_t end) {
  const ReduceArgs& r = *static_cast<const ReduceArgs*>(ctx);
  const int32_t last = r.reducedRank - 1;
  const int64_t n = r.reducedShape[last], stride = r.reducedStrides[last];
  const int64_t runs = product(r.reducedShape, last);
  Odometer outputs{r.keptRank, r.keptShape, {}, {}, {r.keptStrides}, 1};
  outputs.start(begin);
  for (int64_t o = begin; o < end; o++) {
    const float* x = r.x + outputs.offset[0];
    outputs.next();
    if (r.op == ReduceOp::argmax) {
      static_cast<int32_t*>(r.out)[o] = static_cast<int32_t>(argmaxOf(r, x));
      continue;
    }
    Fold f;
    Odometer walk{last, r.reducedShape, {}, {}, {r.reducedStrides}, 1};
    walk.start(0);
    for (int64_t run = 0; run < runs; run++) {
      foldRun(r.op, x + walk.offset[0], stride, n, f);
      walk.next();
    }
    double logTotal = 0;
    if (r.op == ReduceOp::logsumexp && !f.nan && f.seen > 0 && !__builtin_isinf(f.extreme)) {
      double total = 0;
      walk.start(0);
      for (int64_t run = 0; run < runs; run++) {
        total += expSum(x + walk.offset[0], stride, n, f.extreme);
        walk.next();
      }
      logTotal = log(total);
    }
    static_cast<float*>(r.out)[o] = finish(r.op, f, logTotal);
  }
}

// ---- columns: outputs contiguous along the innermost kept dim --------------------------------

constexpr int64_t kColumns = 4 * kLanes;

/// Folds a block of `width` (<= kColumns) neighbouring outputs over every reduced position.
void columnBlock(const ReduceArgs& r, const float* x, int64_t width, float* out) {
  const int64_t positions = product(r.reducedShape, r.reducedRank);
  Odometer walk{r.reducedRank, r.reducedShape, {}, {}, {r.reducedStrides}, 1};
  alignas(64) float row[kColumns];
  alignas(64) double sums[kColumns];
  alignas(64) float extremes[kColumns];
  bool nan[kColumns];
  for (int64_t j = 0; j < kColumns; j++) {
    sums[j] = 0;
    extremes[j] = r.op == ReduceOp::min ? INFINITY : -INFINITY;
    nan[j] = false;
  }
  int64_t positionsDone = 0;
  const auto load = [&](const float* p) {
    for (int64_t j = 0; j < kColumns; j++) row[j] = j < width ? p[j] : 0.0f;
  };
  walk.start(0);
  if (width == kColumns && (r.op == ReduceOp::sum || r.op == ReduceOp::mean)) {
    // The common case (a bias gradient) in f64 registers: each vector of floats widens to two.
    vd acc[8] = {vdzero(), vdzero(), vdzero(), vdzero(), vdzero(), vdzero(), vdzero(), vdzero()};
    for (int64_t i = 0; i < positions; i++) {
      const float* p = x + walk.offset[0];
      walk.next();
      for (int q = 0; q < 4; q++) {
        const vf v = vload(p + q * kLanes);
        acc[2 * q] = vdadd(acc[2 * q], vdlow(v));
        acc[2 * q + 1] = vdadd(acc[2 * q + 1], vdhigh(v));
      }
    }
    for (int q = 0; q < 4; q++) {
      vdstore(sums + q * kLanes, acc[2 * q]);
      if (kLanes > 1) vdstore(sums + q * kLanes + kLanes / 2, acc[2 * q + 1]);
    }
    positionsDone = positions;
  }
  for (int64_t i = positionsDone; i < positions; i++) {
    const float* p = x + walk.offset[0];
    walk.next();
    if (width == kColumns) std::memcpy(row, p, sizeof(row));
    else load(p);
    if (r.op == ReduceOp::sum || r.op == ReduceOp::mean) {
      for (int64_t j = 0; j < kColumns; j++) sums[j] += row[j];
    } else if (r.op == ReduceOp::min) {
      for (int64_t j = 0; j < kColumns; j++) {
        nan[j] |= row[j] != row[j];
        extremes[j] = row[j] < extremes[j] ? row[j] : extremes[j];
      }
    } else {
      for (int64_t j = 0; j < kColumns; j++) {
        nan[j] |= row[j] != row[j];
        extremes[j] = row[j] > extremes[j] ? row[j] : extremes[j];
      }
    }
  }
  if (r.op == ReduceOp::logsumexp) {
    walk.start(0);
    for (int64_t i = 0; i < positions; i++) {
      const float* p = x + walk.offset[0];
      walk.next();
      load(p);
      for (int64_t j = 0; j < width; j++) sums[j] += exp(static_cast<double>(row[j]) - extremes[j]);
    }
  }
  for (int64_t j = 0; j < width; j++) {
    Fold f;
    f.sum = sums[j];
    f.extreme = extremes[j];
    f.nan = nan[j];
    f.seen = positions;
    const bool finite = !f.nan && positions > 0 && !__builtin_isinf(f.extreme);
    out[j] = finish(r.op, f, r.op == ReduceOp::logsumexp && finite ? log(sums[j]) : 0.0);
  }
}

void columnTasks(void* ctx, int64_t begin, int64_t end) {
  const ReduceArgs& r = *static_cast<const ReduceArgs*>(ctx);
  const int32_t last = r.keptRank - 1;
  const int64_t width = r.keptShape[last];
  const int64_t blocks = (width + kColumns - 1) / kColumns;
  Odometer outer{last, r.keptShape, {}, {}, {r.keptStrides}, 1};
  for (int64_t task = begin; task < end; task++) {
    const int64_t row = task / blocks, first = (task % blocks) * kColumns;
    outer.start(row);
    columnBlock(r, r.x + outer.offset[0] + first, minInt(kColumns, width - first),
                static_cast<float*>(r.out) + row * width + first);
  }
}

}  // namespace

void reduce(const ReduceArgs& args, const Parallel& parallel) {
  const int64_t outputs = product(args.keptShape, args.keptRank);
  const int64_t perOutput = product(args.reducedShape, args.reducedRank);
  const bool columns = args.op != ReduceOp::argmax && args.keptRank > 0 && args.reducedRank > 0 &&
                       args.keptStrides[args.keptRank - 1] == 1 && args.reducedStrides[args.reducedRank - 1] != 1;
  if (columns) {
    const int64_t width = args.keptShape[args.keptRank - 1];
    const int64_t tasks = (outputs / width) * ((width + kColumns - 1) / kColumns);
    parallel(tasks, grainFor(kColumns * perOutput), columnTasks, const_cast<ReduceArgs*>(&args));
    return;
  }
  parallel(outputs, grainFor(perOutput), rowTasks, const_cast<ReduceArgs*>(&args));
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
