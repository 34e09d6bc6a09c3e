// The transformer kernels on f32: applyRotary (HF rotate_half, partial rotaryDim),
// scaledDotProductAttention (grouped-query, causal with a KV offset, additive mask; decode and
// prefill alike) and the per-row losses of crossEntropy.
#include <math.h>
#include <stdlib.h>

#include "ops/ops.h"
#include "ops/simd.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

// ---- applyRotary -------------------------------------------------------------------------------

/// out[j] = x[j] cos[j] + rotated[j] sin[j] for j < rotaryDim, rotated = (-x2, x1) for the halves
/// (x1, x2); x[j] after. In f64 and rounded once, like the reference.
void rotaryRow(const RotaryArgs& a, const float* x, const float* c, const float* s, float* out) {
  const int64_t half = a.rotaryDim / 2;
  for (int part = 0; part < 2; part++) {
    const int64_t from = part * half;
    const float* partner = part == 0 ? x + half : x;
    const vd sign = vdset(part == 0 ? -1.0 : 1.0);
    int64_t j = from;
    for (; j + kLanes <= from + half; j += kLanes) {
      const vf xv = vload(x + j), cv = vload(c + j), sv = vload(s + j), rv = vload(partner + j - from);
      const vd lo = vdadd(vdmul(vdlow(xv), vdlow(cv)), vdmul(vdmul(vdlow(rv), sign), vdlow(sv)));
      const vd hi = vdadd(vdmul(vdhigh(xv), vdhigh(cv)), vdmul(vdmul(vdhigh(rv), sign), vdhigh(sv)));
      vstore(out + j, vfromd(lo, hi));
    }
    for (; j < from + half; j++) {
      const double rotated = (part == 0 ? -1.0 : 1.0) * partner[j - from];
      out[j] = static_cast<float>(static_cast<double>(x[j]) * c[j] + rotated * s[j]);
    }
  }
  for (int64_t j = a.rotaryDim; j < a.width; j++) out[j] = x[j];
}

void rotaryTasks(void* ctx, int64_t begin, int64_t end) {
  const RotaryArgs& a = *static_cast<const RotaryArgs*>(ctx);
  const bool dense = a.xStep == 1 && a.cosStep == 1 && a.sinStep == 1;
  float* buffer = dense ? nullptr : static_cast<float*>(malloc((a.width + 2 * a.rotaryDim) * sizeof(float)));
  Odometer rows{a.rank, a.shape, {}, {}, {a.xStrides, a.cosStrides, a.sinStrides}, 3};
  rows.start(begin);
  for (int64_t row = begin; row < end; row++) {
    const float* x = a.x + rows.offset[0];
    const float* c = a.cos + rows.offset[1];
    const float* s = a.sin + rows.offset[2];
    rows.next();
    if (!dense) {
      float* xs = buffer;
      float* cs = buffer + a.width;
      float* ss = cs + a.rotaryDim;
      for (int64_t j = 0; j < a.width; j++) xs[j] = x[j * a.xStep];
      for (int64_t j = 0; j < a.rotaryDim; j++) {
        cs[j] = c[j * a.cosStep];
        ss[j] = s[j * a.sinStep];
      }
      x = xs;
      c = cs;
      s = ss;
    }
    rotaryRow(a, x, c, s, a.out + row * a.width);
  }
  free(buffer);
}

// ---- scaledDotProductAttention ---------------------------------------------------------------------
//
// A task takes one kv head of one batch entry and a block of query positions, for every query
// head of the group that reads this kv head: each key and value row is then loaded once for all
// of those query rows (G of them in a decode step), while it is in cache.

/// Query rows (heads of a group times positions) a task aims for.
constexpr int64_t kTaskRows = 16;

/// From this many query rows per task (prefill), transposing blocks of keys pays for itself.
constexpr int64_t kTransposeRows = 8;

static inline float dot(const float* a, const float* b, int64_t n) {
  vf acc0 = vset(0.0f), acc1 = vset(0.0f);
  int64_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    acc0 = vfma(vload(a + i), vload(b + i), acc0);
    acc1 = vfma(vload(a + i + kLanes), vload(b + i + kLanes), acc1);
  }
  for (; i + kLanes <= n; i += kLanes) acc0 = vfma(vload(a + i), vload(b + i), acc0);
  if (i < n) acc1 = vfma(vloadPart(a + i, n - i), vloadPart(b + i, n - i), acc1);
  return vsum(vadd(acc0, acc1));
}

/// out = scale * sum over j < n of p[j] v[j], Dv (depth) floats at a time in registers: four
/// vectors of accumulators per pass over the value rows.
static inline void weightedSum(float* out, const float* p, int64_t n, const float* v, int64_t vStride, int64_t depth,
                               float scale) {
  constexpr int64_t kBlock = 4 * kLanes;
  for (int64_t e = 0; e < depth; e += kBlock) {
    const float* column = v + e;
    vf acc0 = vset(0.0f), acc1 = vset(0.0f), acc2 = vset(0.0f), acc3 = vset(0.0f);
    if (depth - e >= kBlock) {
      for (int64_t j = 0; j < n; j++) {
        const float* row = column + j * vStride;
        const vf w = vset(p[j]);
        acc0 = vfma(vload(row), w, acc0);
        acc1 = vfma(vload(row + kLanes), w, acc1);
        acc2 = vfma(vload(row + 2 * kLanes), w, acc2);
        acc3 = vfma(vload(row + 3 * kLanes), w, acc3);
      }
      const vf s = vset(scale);
      vstore(out + e, vmul(acc0, s));
      vstore(out + e + kLanes, vmul(acc1, s));
      vstore(out + e + 2 * kLanes, vmul(acc2, s));
      vstore(out + e + 3 * kLanes, vmul(acc3, s));
      continue;
    }
    // The last, partial block: lanes past depth load as 0 and are not stored.
    int64_t left[4];
    for (int i = 0; i < 4; i++) left[i] = minInt(kLanes, maxInt(0, depth - e - i * kLanes));
    for (int64_t j = 0; j < n; j++) {
      const float* row = column + j * vStride;
      const vf w = vset(p[j]);
      acc0 = vfma(vloadPart(row, left[0]), w, acc0);
      acc1 = vfma(vloadPart(row + kLanes, left[1]), w, acc1);
      acc2 = vfma(vloadPart(row + 2 * kLanes, left[2]), w, acc2);
      acc3 = vfma(vloadPart(row + 3 * kLanes, left[3]), w, acc3);
    }
    const vf s = vset(scale);
    vstorePart(out + e, vmul(acc0, s), left[0]);
    vstorePart(out + e + kLanes, vmul(acc1, s), left[1]);
    vstorePart(out + e + 2 * kLanes, vmul(acc2, s), left[2]);
    vstorePart(out + e + 3 * kLanes, vmul(acc3, s), left[3]);
  }
}

int64_t positionsPerTask(const AttentionArgs& a) {
  const int64_t group = a.queryHeads / a.kvHeads;
  return maxInt(1, kTaskRows / group);
}

void attentionTasks(void* ctx, int64_t begin, int64_t end) {
  const AttentionArgs& a = *static_cast<const AttentionArgs*>(ctx);
  const int64_t group = a.queryHeads / a.kvHeads;
  const int64_t perTask = positionsPerTask(a);
  const int64_t blocks = (a.queryLength + perTask - 1) / perTask;
  const int64_t offset = a.keyLength - a.queryLength;
  const int64_t rowsMax = group * perTask;
  // Per query row: its scores, how many keys it sees, and 1 / its softmax total (0: no key).
  float* scores = static_cast<float*>(malloc(rowsMax * maxInt(1, a.keyLength) * sizeof(float)));
  int64_t* visible = static_cast<int64_t*>(malloc(rowsMax * sizeof(int64_t)));
  float* inverse = static_cast<float*>(malloc(rowsMax * sizeof(float)));
  const float** queries = static_cast<const float**>(malloc(rowsMax * sizeof(float*)));
  float** outs = static_cast<float**>(malloc(rowsMax * sizeof(float*)));
  float* keysT = static_cast<float*>(malloc(maxInt(1, a.depth) * kLanes * sizeof(float)));
  for (int64_t task = begin; task < end; task++) {
    const int64_t b = task / (a.kvHeads * blocks);
    const int64_t kvHead = (task / blocks) % a.kvHeads;
    const int64_t first = (task % blocks) * perTask;
    const int64_t last = minInt(a.queryLength, first + perTask);
    const float* k = a.k + b * a.kStrides[0] + kvHead * a.kStrides[1];
    const float* v = a.v + b * a.vStrides[0] + kvHead * a.vStrides[1];
    int64_t rows = 0, seen = 0;
    for (int64_t g = 0; g < group; g++) {
      const int64_t h = kvHead * group + g;
      for (int64_t i = first; i < last; i++, rows++) {
        queries[rows] = a.q + b * a.qStrides[0] + h * a.qStrides[1] + i * a.qStrides[2];
        outs[rows] = a.out + ((b * a.queryHeads + h) * a.queryLength + i) * a.valueDepth;
        visible[rows] = a.causal ? minInt(a.keyLength, maxInt(0, i + offset + 1)) : a.keyLength;
        seen = maxInt(seen, visible[rows]);
      }
    }
    // Scores q k * scale (+ mask below).
    if (rows >= kTransposeRows) {
      // kLanes keys at a time, transposed so that each query row takes their scores as one vector
      // of FMAs, with no horizontal sums.
      const vf scale = vset(a.scale);
      for (int64_t j0 = 0; j0 < seen; j0 += kLanes) {
        const int64_t width = minInt(kLanes, seen - j0);
        for (int64_t l = 0; l < kLanes; l++) {
          const float* key = k + (j0 + l) * a.kStrides[2];
          if (l < width) {
            for (int64_t d = 0; d < a.depth; d++) keysT[d * kLanes + l] = key[d];
          } else {
            for (int64_t d = 0; d < a.depth; d++) keysT[d * kLanes + l] = 0.0f;
          }
        }
        // Four rows at a time: four independent chains of FMAs sharing each load of the keys.
        for (int64_t r0 = 0; r0 < rows; r0 += 4) {
          const float* q[4];
          for (int i = 0; i < 4; i++) q[i] = queries[minInt(r0 + i, rows - 1)];
          vf acc[4] = {vset(0.0f), vset(0.0f), vset(0.0f), vset(0.0f)};
          for (int64_t d = 0; d < a.depth; d++) {
            const vf key = vload(keysT + d * kLanes);
            for (int i = 0; i < 4; i++) acc[i] = vfma(vset(q[i][d]), key, acc[i]);
          }
          for (int64_t i = 0; i < 4 && r0 + i < rows; i++) {
            const int64_t r = r0 + i;
            if (visible[r] <= j0) continue;
            vstorePart(scores + r * a.keyLength + j0, vmul(acc[i], scale), minInt(width, visible[r] - j0));
          }
        }
      }
    } else {
      for (int64_t j = 0; j < seen; j++) {
        const float* key = k + j * a.kStrides[2];
        for (int64_t r = 0; r < rows; r++) {
          if (j < visible[r]) scores[r * a.keyLength + j] = dot(queries[r], key, a.depth) * a.scale;
        }
      }
    }
    for (int64_t r = 0; r < rows; r++) {
      float* s = scores + r * a.keyLength;
      const int64_t n = visible[r];
      if (a.mask != nullptr) {
        const int64_t h = kvHead * group + r / (last - first), i = first + r % (last - first);
        const float* m = a.mask + b * a.maskStrides[0] + h * a.maskStrides[1] + i * a.maskStrides[2];
        for (int64_t j = 0; j < n; j++) s[j] += m[j * a.maskStrides[3]];
      }
      const float shift = n > 0 ? maxF32(s, n) : -INFINITY;
      // A row that admits no key gives zeros, not the NaN of 0 / 0.
      if (shift == -INFINITY) {
        visible[r] = 0;
        inverse[r] = 0;
        continue;
      }
      const vf sv = vset(shift);
      unaryLoop(n, s, s, [sv](vf x) { return vexp(vsub(x, sv)); });
      inverse[r] = static_cast<float>(1.0 / sumF64(s, n));
    }
    // Outputs: sum of p v over the keys each row sees, times 1 / total (0 for a row with none).
    for (int64_t r = 0; r < rows; r++) {
      weightedSum(outs[r], scores + r * a.keyLength, visible[r], v, a.vStrides[2], a.valueDepth, inverse[r]);
    }
  }
  free(keysT);
  free(outs);
  free(queries);
  free(inverse);
  free(visible);
  free(scores);
}

// ---- crossEntropy ------------------------------------------------------------------------------

void crossEntropyTasks(void* ctx, int64_t begin, int64_t end) {
  const CrossEntropyArgs& a = *static_cast<const CrossEntropyArgs*>(ctx);
  const int64_t n = a.classes, step = a.classStep;
  Odometer rows{a.rank, a.shape, {}, {}, {a.strides}, 1};
  rows.start(begin);
  for (int64_t row = begin; row < end; row++) {
    const float* x = a.logits + rows.offset[0];
    rows.next();
    const int32_t target = a.targets[row];
    if (target == a.ignoreIndex) {
      a.losses[row] = 0;
      continue;
    }
    float shift = -INFINITY;
    double total = 0;
    if (step == 1) {
      shift = maxF32(x, n);
      total = expSumF64(x, n, shift);
    } else {
      for (int64_t c = 0; c < n; c++) {
        const float v = x[c * step];
        if (v != v) {
          shift = v;
          break;
        }
        if (v > shift) shift = v;
      }
      for (int64_t c = 0; c < n; c++) total += exp(static_cast<double>(x[c * step]) - shift);
    }
    a.losses[row] = static_cast<double>(shift) + log(total) - x[target * step];
  }
}

}  // namespace

void rotary(const RotaryArgs& args, const Parallel& parallel) {
  parallel(product(args.shape, args.rank), grainFor(2 * args.width), rotaryTasks, const_cast<RotaryArgs*>(&args));
}

void attention(const AttentionArgs& args, const Parallel& parallel) {
  const int64_t perTask = positionsPerTask(args);
  const int64_t blocks = (args.queryLength + perTask - 1) / perTask;
  const int64_t work = perTask * (args.queryHeads / args.kvHeads) * args.keyLength * (args.depth + args.valueDepth);
  parallel(args.batch * args.kvHeads * blocks, grainFor(work), attentionTasks, const_cast<AttentionArgs*>(&args));
}

void crossEntropy(const CrossEntropyArgs& args, const Parallel& parallel) {
  parallel(product(args.shape, args.rank), grainFor(2 * args.classes), crossEntropyTasks,
           const_cast<CrossEntropyArgs*>(&args));
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
