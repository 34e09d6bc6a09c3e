// quantMatmul with int8 activations (QuantAttrs activations: 'int8'), for one ISA: the mode of
// onnxruntime's MatMulNBits at accuracy_level 4. Bits 2, 4 and 8.
//
// x is quantized per row and block of L input channels (L = 128, 64 or 32, the largest dividing
// the group): d = max|x| / 127, xq = round(x * (127 / max|x|)) to nearest even, in f32. Per block
// the sum over k of xq * q is an exact int32, and
//   y[i, j] = sum_blocks s[g, j] * d[i, b] * (sum_k xq[i, k] q[k, j] - z[g, j] sum_k xq[i, k]).
// A block with an infinity or a NaN makes its row NaN.
//
// With AVX512-VNNI one vpdpbusd multiplies 4 unsigned codes by 4 signed bytes of x and adds them
// into each int32 lane, for 16 output channels at once: a word of packed codes gives its codes to
// dpbusd with one shift and one AND per 4 codes (the codes of byte lane b are k = W t + j + P b for
// shift j, so x's bytes are stored in that order: the quads), against one FMA per code in f32.
// Tasks own column strips; for each block the task walks its strips in turn (qweight's rows read as
// contiguous runs), with the running outputs of its rows in a small f32 tile. Decode (m <= 8)
// takes all rows at once; prefill takes panels of 8 rows over a column block that stays in L2.
// Other ISAs run the same arithmetic in plain loops (the compiler vectorizes the column loop).
#include <cmath>
#include <cstring>
#include <limits>

#include "quant/isa/packed.h"
#include "quant/quant.h"
#include "runtime/dispatch.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

/// x in int8, per row (rows padded with zeros to a whole panel).
struct Int8Rows {
  int64_t blockLen;  // L
  int64_t blocks;    // k / L
  int64_t k;
  const int8_t* values;  // [rows][k] in channel order
  const int32_t* quads;  // [rows][k / 4]: 4 bytes each, in the kernel's order (see quadsOfRow)
  const float* scale;    // [rows][blocks]: d
  const float* offset;   // [rows][blocks]: d * sum of the block's xq (the zero point's share)
};

/// Channels per block of x: 128, 64 or 32, the largest that divides the group length.
int64_t blockLengthOf(const PackedWeight& w) {
  const int64_t group = w.groupSize >= w.k ? w.k : w.groupSize;
  return group % 128 == 0 ? 128 : group % 64 == 0 ? 64 : 32;
}

/// Reorders a row's int8 values into quads: word-row t of a B-bit column holds W = 32/B codes and
/// gives P = 8/B quads, quad (t, j) byte b being channel W t + j + P b.
void quadsOfRow(const int8_t* values, int64_t k, int bits, int8_t* quads) {
  const int W = 32 / bits, P = 8 / bits;
#if defined(__AVX2__)
  // W divides 16: the reordering stays within 16-byte chunks, one byte shuffle each.
  if (bits == 8) {
    std::memcpy(quads, values, k);
    return;
  }
  alignas(16) int8_t order[16];
  for (int base = 0; base < 16; base += W) {
    for (int j = 0; j < P; j++) {
      for (int b = 0; b < 4; b++) order[base + 4 * j + b] = static_cast<int8_t>(base + j + P * b);
    }
  }
  const __m128i pattern = _mm_load_si128(reinterpret_cast<const __m128i*>(order));
  for (int64_t p = 0; p < k; p += 16) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(values + p));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(quads + p), _mm_shuffle_epi8(chunk, pattern));
  }
  return;
#endif
  for (int64_t base = 0; base < k; base += W) {
    for (int j = 0; j < P; j++) {
      for (int b = 0; b < 4; b++) quads[base + 4 * j + b] = values[base + j + P * b];
    }
  }
}

/// Quantizes one row of x (see the file comment).
void quantizeRow(const float* x, int64_t k, int64_t L, int8_t* values, float* scale, float* offset) {
#if defined(__AVX512F__)
  // The same arithmetic 16 lanes at a time (the convert rounds to nearest even, as nearbyint).
  const __m512 absMask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  for (int64_t b = 0; b < k / L; b++) {
    const float* block = x + b * L;
    __m512 largestVec = _mm512_setzero_ps();
    for (int64_t p = 0; p < L; p += 16) largestVec = _mm512_max_ps(largestVec, _mm512_and_ps(_mm512_loadu_ps(block + p), absMask));
    // max_ps drops a NaN operand in favour of the other one: check finiteness separately.
    __m512 sum = _mm512_setzero_ps();
    for (int64_t p = 0; p < L; p += 16) sum = _mm512_add_ps(sum, _mm512_mul_ps(_mm512_loadu_ps(block + p), _mm512_setzero_ps()));
    const float largest = _mm512_reduce_max_ps(largestVec);
    const bool finite = std::isfinite(largest) && _mm512_reduce_add_ps(sum) == 0.0f;
    int8_t* out = values + b * L;
    if (!finite || largest == 0.0f) {
      std::memset(out, 0, L);
      scale[b] = finite ? 0.0f : std::numeric_limits<float>::quiet_NaN();
      offset[b] = scale[b];
      continue;
    }
    const __m512 inverse = _mm512_set1_ps(127.0f / largest);
    __m512i total = _mm512_setzero_si512();
    for (int64_t p = 0; p < L; p += 16) {
      const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(block + p), inverse));
      total = _mm512_add_epi32(total, v);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + p), _mm512_cvtsepi32_epi8(v));
    }
    scale[b] = largest / 127.0f;
    offset[b] = scale[b] * static_cast<float>(_mm512_reduce_add_epi32(total));
  }
#else
  for (int64_t b = 0; b < k / L; b++) {
    const float* block = x + b * L;
    int8_t* out = values + b * L;
    float largest = 0.0f;
    bool finite = true;
    for (int64_t p = 0; p < L; p++) {
      const float a = std::fabs(block[p]);
      finite = finite && std::isfinite(block[p]);
      largest = a > largest ? a : largest;
    }
    if (!finite || largest == 0.0f) {
      std::memset(out, 0, L);
      scale[b] = finite ? 0.0f : std::numeric_limits<float>::quiet_NaN();
      offset[b] = scale[b];
      continue;
    }
    const float inverse = 127.0f / largest;
    int32_t total = 0;
    for (int64_t p = 0; p < L; p++) {
      const int32_t v = static_cast<int32_t>(std::nearbyint(block[p] * inverse));
      out[p] = static_cast<int8_t>(v);
      total += v;
    }
    scale[b] = largest / 127.0f;
    offset[b] = scale[b] * static_cast<float>(total);
  }
#endif
}

struct Int8Context {
  const QuantMatmulArgs* args;
  Int8Rows x;
  int64_t groupBlocks;  // blocks of x per group of W
  int64_t rows;         // rows of x (padded)
  int64_t panelRows;    // rows per call of the strip kernel (m for decode, 8 for prefill)
  int64_t taskColumns;  // columns per task (a multiple of the strip width)
  int64_t vectorEnd;    // columns below this run in vectors; the rest in scalar code
};

thread_local Workspace int8Tile;

/// Columns [col0, col1) of rows [row0, row0 + rows), in plain loops (tails and ISAs without VNNI).
void int8ColumnsScalar(const Int8Context& c, int64_t row0, int64_t rows, int64_t col0, int64_t col1) {
  const QuantMatmulArgs& a = *c.args;
  const PackedWeight& w = a.w;
  const Int8Rows& x = c.x;
  const int64_t width = col1 - col0;
  if (width <= 0) return;
  float* y = int8Tile.floats(2 * width);
  int32_t* dot = reinterpret_cast<int32_t*>(y + width);
  for (int64_t i = row0; i < row0 + rows && i < a.m; i++) {
    for (int64_t j = 0; j < width; j++) y[j] = 0.0f;
    for (int64_t b = 0; b < x.blocks; b++) {
      const int64_t g = b / c.groupBlocks;
      for (int64_t j = 0; j < width; j++) dot[j] = 0;
      for (int64_t p = b * x.blockLen; p < (b + 1) * x.blockLen; p++) {
        const int32_t v = x.values[i * x.k + p];
        for (int64_t j = 0; j < width; j++) dot[j] += v * codeAt(w, p, col0 + j);
      }
      const float d = x.scale[i * x.blocks + b], off = x.offset[i * x.blocks + b];
      for (int64_t j = 0; j < width; j++) {
        const float s = scaleAt(w, g, col0 + j);
        const float sz = s * static_cast<float>(zeroAt(w, g, col0 + j));
        y[j] = y[j] + static_cast<float>(dot[j]) * (s * d) - sz * off;
      }
    }
    for (int64_t j = 0; j < width; j++) a.out[i * w.n + col0 + j] = y[j] + biasAt(a.bias, a.biasType, col0 + j);
  }
}

#if defined(__AVX512F__)

constexpr int64_t kPrefetchRows = 16;  // word-rows of qweight requested ahead

/// For block b of x: tile[i][v] += s (d_i dot - z off_i) over the V vectors of columns from `col`,
/// rows row0 .. row0 + M - 1, the dot products by vpdpbusd.
template <int B, int M, int V>
inline void int8Block(const Int8Context& c, int64_t row0, int64_t b, int64_t col, float* tile, int64_t ldt) {
  const PackedWeight& w = c.args->w;
  const Int8Rows& x = c.x;
  constexpr int W = 32 / B, P = 8 / B;
  const int64_t n = w.n;
  const int64_t wordRows = x.blockLen / W;
  const int64_t quadsPerRow = x.k / 4;
  const int32_t* rows = w.qweight + b * wordRows * n + col;
  const int32_t* quads = x.quads + row0 * quadsPerRow + b * (x.blockLen / 4);
  const VecI mask = setI(static_cast<int32_t>(0x01010101u * ((1u << B) - 1)));
  VecI acc[V][M];
  for (int v = 0; v < V; v++) {
    for (int i = 0; i < M; i++) acc[v][i] = _mm512_setzero_si512();
  }
  for (int64_t t = 0; t < wordRows; t++) {
    for (int v = 0; v < V; v++) _mm_prefetch(reinterpret_cast<const char*>(rows + (t + kPrefetchRows) * n + v * kLanes), _MM_HINT_T1);
    VecI words[V];
    for (int v = 0; v < V; v++) words[v] = loadI(rows + t * n + v * kLanes);
#pragma GCC unroll 4
    for (int j = 0; j < P; j++) {
      VecI codes[V];
      for (int v = 0; v < V; v++) {
        if constexpr (B == 8) codes[v] = words[v];
        else codes[v] = andI(j == 0 ? words[v] : _mm512_srli_epi32(words[v], B * j), mask);
      }
      for (int i = 0; i < M; i++) {
        const VecI xv = setI(quads[i * quadsPerRow + t * P + j]);
        for (int v = 0; v < V; v++) acc[v][i] = _mm512_dpbusd_epi32(acc[v][i], codes[v], xv);
      }
    }
  }
  const int64_t g = b / c.groupBlocks;
  for (int v = 0; v < V; v++) {
    const Vec s = loadScales(w, g, col + v * kLanes);
    const Vec sz = mulF(loadZerosVec<B>(w, g, col + v * kLanes), s);
    for (int i = 0; i < M; i++) {
      const int64_t at = (row0 + i) * x.blocks + b;
      float* out = tile + i * ldt + v * kLanes;
      const Vec sum = fma(toFloat(acc[v][i]), mulF(s, setF(x.scale[at])), loadUnaligned(out));
      storeUnaligned(out, fnma(sz, setF(x.offset[at]), sum));
    }
  }
}

/// Rows [row0, row0 + M) x columns [col0, col0 + width) (whole strips of V vectors): every block
/// of x over every strip, then the tile (plus bias) into out.
template <int B, int M, int V>
void int8Panel(const Int8Context& c, int64_t row0, int64_t col0, int64_t width) {
  const QuantMatmulArgs& a = *c.args;
  const int64_t n = a.w.n;
  constexpr int64_t kStrip = V * kLanes;
  float* tile = int8Tile.floats(M * width);
  for (int64_t p = 0; p < M * width; p++) tile[p] = 0.0f;
  for (int64_t b = 0; b < c.x.blocks; b++) {
    for (int64_t strip = 0; strip < width; strip += kStrip) int8Block<B, M, V>(c, row0, b, col0 + strip, tile + strip, width);
  }
  for (int i = 0; i < M && row0 + i < a.m; i++) {
    for (int64_t j = 0; j < width; j += kLanes) {
      Vec bias = Vec{};
      if (a.bias != nullptr) {
        switch (a.biasType) {
          case DType::f16: bias = loadVec<DType::f16>(static_cast<const uint16_t*>(a.bias) + col0 + j); break;
          case DType::bf16: bias = loadVec<DType::bf16>(static_cast<const uint16_t*>(a.bias) + col0 + j); break;
          default: bias = loadVec<DType::f32>(static_cast<const float*>(a.bias) + col0 + j);
        }
      }
      storeUnaligned(a.out + (row0 + i) * n + col0 + j, add(loadUnaligned(tile + i * width + j), bias));
    }
  }
}

/// The strip width V (in vectors) for M rows: 2 * V * M int32 sums and the words fit the registers.
template <int M>
constexpr int stripVectors() { return M >= 8 ? 2 : M >= 2 ? 2 : 4; }

template <int B, int M>
void int8Columns(const Int8Context& c, int64_t row0, int64_t col0, int64_t col1) {
  constexpr int V = stripVectors<M>();
  constexpr int64_t kStrip = V * kLanes;
  const int64_t strips = (col1 - col0) / kStrip * kStrip;
  if (strips > 0) int8Panel<B, M, V>(c, row0, col0, strips);
  // Whole vectors past the strips one vector at a time.
  const int64_t vectors = (col1 - col0 - strips) / kLanes * kLanes;
  if (vectors > 0) int8Panel<B, M, 1>(c, row0, col0 + strips, vectors);
}

template <int B>
void int8Rows(const Int8Context& c, int64_t row0, int64_t col0, int64_t col1) {
  switch (c.panelRows) {
    case 1: return int8Columns<B, 1>(c, row0, col0, col1);
    case 2: return int8Columns<B, 2>(c, row0, col0, col1);
    case 4: return int8Columns<B, 4>(c, row0, col0, col1);
    default: return int8Columns<B, 8>(c, row0, col0, col1);
  }
}

void int8Tasks(void* context, int64_t begin, int64_t end) {
  const Int8Context& c = *static_cast<const Int8Context*>(context);
  const int64_t n = c.args->w.n;
  for (int64_t task = begin; task < end; task++) {
    const int64_t col0 = task * c.taskColumns;
    const int64_t col1 = col0 + c.taskColumns < c.vectorEnd ? col0 + c.taskColumns : c.vectorEnd;
    for (int64_t row0 = 0; row0 < c.rows; row0 += c.panelRows) {
      if (col1 > col0) {
        switch (c.args->w.bits) {
          case 2: int8Rows<2>(c, row0, col0, col1); break;
          case 4: int8Rows<4>(c, row0, col0, col1); break;
          default: int8Rows<8>(c, row0, col0, col1);
        }
      }
      // Columns past the last whole vector (all of them without VNNI) in plain loops.
      const int64_t tail0 = col0 > c.vectorEnd ? col0 : c.vectorEnd;
      const int64_t tail1 = col0 + c.taskColumns < n ? col0 + c.taskColumns : n;
      if (tail1 > tail0) int8ColumnsScalar(c, row0, c.panelRows, tail0, tail1);
    }
  }
}

#else

void int8Tasks(void* context, int64_t begin, int64_t end) {
  const Int8Context& c = *static_cast<const Int8Context*>(context);
  const int64_t n = c.args->w.n;
  for (int64_t task = begin; task < end; task++) {
    const int64_t col0 = task * c.taskColumns;
    const int64_t col1 = col0 + c.taskColumns < n ? col0 + c.taskColumns : n;
    int8ColumnsScalar(c, 0, c.rows, col0, col1);
  }
}

#endif

struct QuantizeContext {
  const QuantMatmulArgs* args;
  int64_t blockLen, blocks;
  int8_t* values;
  int8_t* quads;
  float* scale;
  float* offset;
};

void quantizeTasks(void* context, int64_t begin, int64_t end) {
  const QuantizeContext& q = *static_cast<const QuantizeContext*>(context);
  const int64_t k = q.args->w.k;
  for (int64_t i = begin; i < end; i++) {
    quantizeRow(q.args->x + i * k, k, q.blockLen, q.values + i * k, q.scale + i * q.blocks, q.offset + i * q.blocks);
    quadsOfRow(q.values + i * k, k, q.args->w.bits, q.quads + i * k);
  }
}

thread_local Workspace int8Scratch;

// Columns per task: decode streams about a page of each row of qweight per task; prefill keeps a
// column block of W (all of K) in L2 while every panel of rows goes over it.
constexpr int64_t kDecodeTaskColumns = 1024;
constexpr int64_t kPrefillL2Bytes = 512 * 1024;

}  // namespace

void quantMatmulInt8(const QuantMatmulArgs& a, const Parallel& parallel) {
  const PackedWeight& w = a.w;
  const int64_t L = blockLengthOf(w);
  const int64_t blocks = w.k / L;
  const int64_t panelRows = a.m <= 1 ? 1 : a.m <= 2 ? 2 : a.m <= 4 ? 4 : 8;
  const int64_t rows = (a.m + panelRows - 1) / panelRows * panelRows;
  // values and quads (rows * k bytes each), then scale and offset (rows * blocks floats each).
  const size_t bytes = 2 * rows * w.k + 2 * rows * blocks * sizeof(float);
  float* scratch = int8Scratch.floats((bytes + sizeof(float) - 1) / sizeof(float));
  QuantizeContext q{&a, L, blocks, nullptr, nullptr, scratch, scratch + rows * blocks};
  q.values = reinterpret_cast<int8_t*>(scratch + 2 * rows * blocks);
  q.quads = q.values + rows * w.k;
  // Padding rows quantize to zeros and are never stored.
  std::memset(q.values + a.m * w.k, 0, (rows - a.m) * w.k);
  std::memset(q.quads + a.m * w.k, 0, (rows - a.m) * w.k);
  for (int64_t p = a.m * blocks; p < rows * blocks; p++) q.scale[p] = q.offset[p] = 0.0f;
  if (parallel.threads > 1 && a.m > 1) parallel.run(parallel.pool, a.m, 1, quantizeTasks, &q);
  else quantizeTasks(&q, 0, a.m);

  Int8Context c{};
  c.args = &a;
  c.x = Int8Rows{L, blocks, w.k, q.values, reinterpret_cast<const int32_t*>(q.quads), q.scale, q.offset};
  c.groupBlocks = (w.groupSize >= w.k ? w.k : w.groupSize) / L;
  c.rows = rows;
  c.panelRows = panelRows;
#if defined(__AVX512F__)
  c.vectorEnd = cpuFeatures().avx512vnni ? w.n / kLanes * kLanes : 0;
#else
  c.vectorEnd = 0;
#endif
  int64_t taskColumns = kDecodeTaskColumns;
  if (a.m > 8) {
    const int64_t columnBytes = w.k * w.bits / 8;
    taskColumns = kPrefillL2Bytes / columnBytes / 64 * 64;
    if (taskColumns < 64) taskColumns = 64;
  }
  // As many tasks as a multiple of the threads, each a whole number of 64-column strips.
  const int threads = parallel.threads;
  int64_t tasks = (w.n + taskColumns - 1) / taskColumns;
  tasks = (tasks + threads - 1) / threads * threads;
  c.taskColumns = ((w.n + tasks - 1) / tasks + 63) / 64 * 64;
  tasks = (w.n + c.taskColumns - 1) / c.taskColumns;
  if (threads > 1 && tasks > 1) parallel.run(parallel.pool, tasks, 1, int8Tasks, &c);
  else int8Tasks(&c, 0, tasks);
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
