// quantMatmul with x in bytes, for one ISA, bits 2, 4 and 8: int8 activations (QuantAttrs
// activations: 'int8', the mode of onnxruntime's MatMulNBits at accuracy_level 4), and the f32
// qgemv of one or two rows on AVX512-VNNI, which splits x into three int8 pieces (see splitRow).
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
// For each block of x the kernel walks strips of columns in turn (qweight's rows read as contiguous
// runs), with the running outputs of its rows in a small f32 tile. Decode (m <= 8) takes all rows
// at once and splits K between the threads: each streams one contiguous range of qweight's rows
// over all columns into its own tile (measured faster than column strips per thread, whose rows
// are short runs a page apart), 8 word rows at a time (kPassRows), and the tiles are summed at the
// end. Prefill takes panels of 8 rows over a column block that stays in L2. Other ISAs run the
// same arithmetic in plain loops (the compiler vectorizes the column loop).
#include <cmath>
#include <cstring>
#include <limits>

#include "quant/isa/packed.h"
#include "quant/quant.h"
#include "runtime/dispatch.h"

namespace slimlm {
namespace SLIMLM_ISA {
namespace {

/// x in bytes, per row (rows padded with zeros to a whole panel): each row is `pieces` int8 rows
/// whose blocks, each times its own scale, sum to the row (one piece for int8 activations, three
/// for the exact split). Row i's piece r is byte row i * pieces + r.
struct Int8Rows {
  int64_t blockLen;  // L
  int64_t blocks;    // k / L
  int64_t k;
  int pieces;
  const int8_t* values;  // [rows * pieces][k] in channel order
  const int32_t* quads;  // [rows * pieces][k / 4]: 4 bytes each, in the kernel's order (quadsOfRow)
  const float* scale;    // [rows * pieces][blocks]: d
  const float* offset;   // [rows][blocks]: the zero point's share: d * the block's sum of xq (int8),
                         // the block's f32 sum of x (exact split)
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

#if defined(__AVX512F__)
/// The exact split of one row of x for the f32 qgemv: per block, E with max|x| * 2^E < 2^22 and
/// X = round(x * 2^E) (x * 2^E is exact in f32; X differs from it by at most 1/2) written with
/// balanced base-256 digits as X = a 2^16 + b 2^8 + c, each in [-128, 127]: three int8 pieces of
/// scales 2^(16-E), 2^(8-E), 2^-E. x is kept to 2^-23 of the block's largest |x| (f32 keeps 2^-24
/// of each element) and the product sums are exact in int32. offset is the block's f32 sum of x.
/// Returns false when the row holds an infinity or a NaN.
bool splitRow(const float* x, int64_t k, int64_t L, int8_t* values, float* scale, float* offset) {
  const int64_t blocks = k / L;
  const __m512 absMask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  const __m512i half = _mm512_set1_epi32(128), byte = _mm512_set1_epi32(255);
  // The balanced low digit of v: ((v + 128) & 255) - 128.
  const auto lowDigit = [&](__m512i v) { return _mm512_sub_epi32(_mm512_and_si512(_mm512_add_epi32(v, half), byte), half); };
  for (int64_t b = 0; b < blocks; b++) {
    const float* block = x + b * L;
    __m512 largestVec = _mm512_setzero_ps(), sum = _mm512_setzero_ps();
    for (int64_t p = 0; p < L; p += 16) {
      const __m512 v = _mm512_loadu_ps(block + p);
      largestVec = _mm512_max_ps(largestVec, _mm512_and_ps(v, absMask));
      sum = _mm512_add_ps(sum, v);
    }
    const float largest = _mm512_reduce_max_ps(largestVec);
    const float total = _mm512_reduce_add_ps(sum);
    // max_ps drops a NaN operand; the sum keeps it.
    if (!std::isfinite(largest) || !std::isfinite(total)) return false;
    int e = 0;
    if (largest > 0.0f) std::frexp(largest, &e);
    const int exponent = 22 - e < 126 ? 22 - e : 126;  // 2^E stays a normal float
    const __m512 factor = _mm512_set1_ps(std::ldexp(1.0f, exponent));
    for (int64_t p = 0; p < L; p += 16) {
      const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(block + p), factor));
      const __m512i c = lowDigit(v);
      const __m512i rest = _mm512_srai_epi32(_mm512_sub_epi32(v, c), 8);  // |rest| <= 2^14 + 1
      const __m512i b1 = lowDigit(rest);
      const __m512i a = _mm512_srai_epi32(_mm512_sub_epi32(rest, b1), 8);  // in [-64, 64]
      int8_t* out = values + b * L + p;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(a));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k), _mm512_cvtepi32_epi8(b1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * k), _mm512_cvtepi32_epi8(c));
    }
    scale[b] = std::ldexp(1.0f, 16 - exponent);
    scale[blocks + b] = std::ldexp(1.0f, 8 - exponent);
    scale[2 * blocks + b] = std::ldexp(1.0f, -exponent);
    offset[b] = total;
  }
  return true;
}
#endif

struct Int8Context {
  const QuantMatmulArgs* args;
  Int8Rows x;
  int64_t groupBlocks;  // blocks of x per group of W
  int64_t rows;         // rows of x (padded)
  int64_t panelRows;    // rows per call of the strip kernel (m for decode, 8 for prefill)
  int64_t taskColumns;  // prefill: columns per task (a multiple of the strip width)
  int64_t vectorEnd;    // columns below this run in vectors; the rest in scalar code
  int64_t tasks;        // decode: ranges of blocks, one tile each
  float* tiles;         // decode: [tasks][panelRows][vectorEnd]
  int64_t passRows;     // word rows of qweight per pass over a block's columns (see kPassRows)
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
      for (int r = 0; r < x.pieces; r++) {
        const int64_t piece = i * x.pieces + r;
        for (int64_t j = 0; j < width; j++) dot[j] = 0;
        for (int64_t p = b * x.blockLen; p < (b + 1) * x.blockLen; p++) {
          const int32_t v = x.values[piece * x.k + p];
          for (int64_t j = 0; j < width; j++) dot[j] += v * codeAt(w, p, col0 + j);
        }
        const float d = x.scale[piece * x.blocks + b];
        for (int64_t j = 0; j < width; j++) y[j] += static_cast<float>(dot[j]) * (scaleAt(w, g, col0 + j) * d);
      }
      const float off = x.offset[i * x.blocks + b];
      for (int64_t j = 0; j < width; j++) {
        const float sz = scaleAt(w, g, col0 + j) * static_cast<float>(zeroAt(w, g, col0 + j));
        y[j] -= sz * off;
      }
    }
    for (int64_t j = 0; j < width; j++) a.out[i * w.n + col0 + j] = y[j] + biasAt(a.bias, a.biasType, col0 + j);
  }
}

#if defined(__AVX512F__)

/// acc + the dot products of 4 unsigned code bytes and 4 signed bytes of x per lane (vpdpbusd).
/// Written as an instruction that updates acc in place: through the intrinsic, GCC copied every
/// accumulator to another register and back around each call in the hot loop (one thread, a 2 MB
/// weight in cache: 15.4 GB/s against 17-19 GB/s).
inline VecI dotBytes(VecI acc, VecI codes, VecI x) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(codes), "v"(x));
  return acc;
}

/// The zero points of columns [col, col + 16) of group g as floats, for B = 2, 4 or 8 bits, where
/// a field never straddles a byte: the 2B bytes that hold them, byte (j B) / 8 spread to lane j by
/// one byte shuffle, shifted by (j B) % 8 and masked (half the operations of loadZerosVec's word
/// permutes, which run once per block and vector of columns).
template <int B>
inline Vec loadZerosBytes(const PackedWeight& w, int64_t g, int64_t col) {
  static_assert(B == 2 || B == 4 || B == 8, "fields within bytes");
  const uint8_t* src = reinterpret_cast<const uint8_t*>(w.qzeros + g * (w.n * B / 32)) + col * B / 8;
  __m128i bytes;
  if constexpr (B == 8) bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
  else if constexpr (B == 4) bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src));
  else bytes = _mm_cvtsi32_si128(*reinterpret_cast<const int32_t*>(src));
  alignas(16) static constexpr int8_t kSpread[3][16] = {
      {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3},
      {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7},
      {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}};
  constexpr int row = B == 2 ? 0 : B == 4 ? 1 : 2;
  const __m128i spread = _mm_shuffle_epi8(bytes, _mm_load_si128(reinterpret_cast<const __m128i*>(kSpread[row])));
  VecI lanes = _mm512_cvtepu8_epi32(spread);
  if constexpr (B != 8) {
    const VecI shifts = B == 4 ? _mm512_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4)
                               : _mm512_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6);
    lanes = _mm512_srlv_epi32(lanes, shifts);
  }
  const VecI field = setI((1 << B) - 1);
  return toFloat(andI(_mm512_add_epi32(andI(lanes, field), setI(w.zeroOffset)), field));
}

/// Word rows [t0, t1) of block b of x for the V vectors of columns from `col`, rows row0 .. row0 +
/// M - 1 and their R pieces, the dot products by vpdpbusd. A block read in several passes keeps
/// its int32 sums in `carry` (V * M * R vectors) between them; when its last row is done,
/// tile[i][v] += s (sum_r d_ir dot_ir - z off_i). The words of the same columns t1 - t0 rows on
/// (the next pass, or the next block) are requested ahead: the hardware prefetcher does not follow
/// qweight's row stride.
template <int B, int M, int V, int R>
__attribute__((always_inline)) inline void int8Block(const Int8Context& c, int64_t row0, int64_t b, int64_t g, int64_t t0, int64_t t1, int64_t col, VecI* carry, float* tile, int64_t ldt) {
  const PackedWeight& w = c.args->w;
  const Int8Rows& x = c.x;
  constexpr int W = 32 / B, P = 8 / B;
  const int64_t n = w.n;
  const int64_t wordRows = x.blockLen / W;
  const int64_t quadsPerRow = x.k / 4;
  const int32_t* rows = w.qweight + b * wordRows * n + col;
  const int32_t* quads = x.quads + row0 * R * quadsPerRow + b * (x.blockLen / 4);
  const VecI mask = setI(static_cast<int32_t>(0x01010101u * ((1u << B) - 1)));
  VecI acc[V][M * R];
  for (int v = 0; v < V; v++) {
    for (int i = 0; i < M * R; i++) acc[v][i] = t0 == 0 ? _mm512_setzero_si512() : carry[v * M * R + i];
  }
  for (int64_t t = t0; t < t1; t++) {
    for (int v = 0; v < V; v++) _mm_prefetch(reinterpret_cast<const char*>(rows + (t + t1 - t0) * n + v * kLanes), _MM_HINT_T1);
    VecI words[V];
    for (int v = 0; v < V; v++) words[v] = loadI(rows + t * n + v * kLanes);
#pragma GCC unroll 4
    for (int j = 0; j < P; j++) {
      VecI codes[V];
      for (int v = 0; v < V; v++) {
        if constexpr (B == 8) codes[v] = words[v];
        else codes[v] = andI(j == 0 ? words[v] : _mm512_srli_epi32(words[v], B * j), mask);
      }
      for (int i = 0; i < M * R; i++) {
        const VecI xv = setI(quads[i * quadsPerRow + t * P + j]);
        for (int v = 0; v < V; v++) acc[v][i] = dotBytes(acc[v][i], codes[v], xv);
      }
    }
  }
  if (t1 < wordRows) {
    for (int v = 0; v < V; v++) {
      for (int i = 0; i < M * R; i++) carry[v * M * R + i] = acc[v][i];
    }
    return;
  }
  // Per row: the pieces' scales and the zero point's share, read once (the tile's stores could
  // alias them).
  Vec d[M][R], offset[M];
  for (int i = 0; i < M; i++) {
    for (int r = 0; r < R; r++) d[i][r] = setF(x.scale[((row0 + i) * R + r) * x.blocks + b]);
    offset[i] = setF(x.offset[(row0 + i) * x.blocks + b]);
  }
  for (int v = 0; v < V; v++) {
    const Vec s = loadScales(w, g, col + v * kLanes);
    const Vec z = loadZerosBytes<B>(w, g, col + v * kLanes);
    for (int i = 0; i < M; i++) {
      // sum_r d_r dot_r. With three pieces d_1 = 2^8 d_2 (splitRow), so the last two dot products
      // join exactly in int32 (|dot_1| 2^8 + |dot_2| < 2^31 for 128 channels of 8-bit codes) and
      // their sum is rounded to f32 once, as the f32 additions of the output are.
      Vec dots;
      if constexpr (R == 3) {
        const VecI low = _mm512_add_epi32(_mm512_slli_epi32(acc[v][i * R + 1], 8), acc[v][i * R + 2]);
        dots = fma(toFloat(acc[v][i * R]), d[i][0], mulF(toFloat(low), d[i][2]));
      } else {
        dots = mulF(toFloat(acc[v][i * R]), d[i][0]);
        for (int r = 1; r < R; r++) dots = fma(toFloat(acc[v][i * R + r]), d[i][r], dots);
      }
      float* out = tile + i * ldt + v * kLanes;
      storeUnaligned(out, fma(s, fnma(z, offset[i], dots), loadUnaligned(out)));
    }
  }
}

/// The strip width V (in vectors) for M rows of R pieces: V * M * R int32 sums and the words fit
/// the registers; one row of one piece takes 8 (its 2 sums per word-row chain on the dot product's
/// latency with fewer, measured).
template <int M, int R>
constexpr int stripVectors() { return M * R == 1 ? 8 : M * R <= 3 ? 4 : M * R <= 8 ? 2 : 1; }

thread_local Workspace int8Carry;

/// tile[i][j] += the products of blocks [b0, b1) of rows [row0, row0 + M) for columns
/// [col0, col0 + width) (whole vectors; tile column j is column col0 + j): block by block and pass
/// by pass, the strips in turn, the vectors past the last whole strip one at a time.
template <int B, int M, int R>
void int8Accumulate(const Int8Context& c, int64_t row0, int64_t col0, int64_t width, int64_t b0, int64_t b1, float* tile, int64_t ldt) {
  constexpr int V = stripVectors<M, R>();
  constexpr int64_t kStrip = V * kLanes;
  const int64_t strips = width / kStrip * kStrip;
  const int64_t wordRows = c.x.blockLen * B / 32;
  const int64_t passRows = wordRows < c.passRows ? wordRows : c.passRows;
  // The int32 sums of every vector of columns, M * R vectors each (used when a block takes passes).
  VecI* carry = reinterpret_cast<VecI*>(int8Carry.floats(width * M * R));
  for (int64_t b = b0; b < b1; b++) {
    const int64_t g = b / c.groupBlocks;
    for (int64_t t0 = 0; t0 < wordRows; t0 += passRows) {
      const int64_t t1 = t0 + passRows;
      for (int64_t j = 0; j < strips; j += kStrip) int8Block<B, M, V, R>(c, row0, b, g, t0, t1, col0 + j, carry + j / kLanes * M * R, tile + j, ldt);
      for (int64_t j = strips; j < width; j += kLanes) int8Block<B, M, 1, R>(c, row0, b, g, t0, t1, col0 + j, carry + j / kLanes * M * R, tile + j, ldt);
    }
  }
}

template <int B, int R>
void int8AccumulateRows(const Int8Context& c, int64_t row0, int64_t col0, int64_t width, int64_t b0, int64_t b1, float* tile, int64_t ldt) {
  switch (c.panelRows) {
    case 1: return int8Accumulate<B, 1, R>(c, row0, col0, width, b0, b1, tile, ldt);
    case 2: return int8Accumulate<B, 2, R>(c, row0, col0, width, b0, b1, tile, ldt);
    case 4: return int8Accumulate<B, 4, R>(c, row0, col0, width, b0, b1, tile, ldt);
    default: return int8Accumulate<B, 8, R>(c, row0, col0, width, b0, b1, tile, ldt);
  }
}

template <int R>
void int8AccumulateBits(const Int8Context& c, int64_t row0, int64_t col0, int64_t width, int64_t b0, int64_t b1, float* tile, int64_t ldt) {
  switch (c.args->w.bits) {
    case 2: return int8AccumulateRows<2, R>(c, row0, col0, width, b0, b1, tile, ldt);
    case 4: return int8AccumulateRows<4, R>(c, row0, col0, width, b0, b1, tile, ldt);
    default: return int8AccumulateRows<8, R>(c, row0, col0, width, b0, b1, tile, ldt);
  }
}

void int8AccumulateAny(const Int8Context& c, int64_t row0, int64_t col0, int64_t width, int64_t b0, int64_t b1, float* tile, int64_t ldt) {
  if (c.x.pieces == 3) int8AccumulateBits<3>(c, row0, col0, width, b0, b1, tile, ldt);
  else int8AccumulateBits<1>(c, row0, col0, width, b0, b1, tile, ldt);
}

/// out[row0 + i, col0 + j] = the sum of `count` tiles (each `stride` floats apart, rows ldt apart)
/// plus bias, for the rows of x that exist and columns [col0, col0 + width) (whole vectors).
void storeTiles(const Int8Context& c, int64_t row0, int64_t col0, int64_t width, const float* tiles, int64_t count, int64_t stride, int64_t ldt) {
  const QuantMatmulArgs& a = *c.args;
  const int64_t n = a.w.n;
  for (int64_t i = 0; i < c.panelRows && row0 + i < a.m; i++) {
    for (int64_t j = 0; j < width; j += kLanes) {
      Vec sum = Vec{};
      if (a.bias != nullptr) {
        switch (a.biasType) {
          case DType::f16: sum = loadVec<DType::f16>(static_cast<const uint16_t*>(a.bias) + col0 + j); break;
          case DType::bf16: sum = loadVec<DType::bf16>(static_cast<const uint16_t*>(a.bias) + col0 + j); break;
          default: sum = loadVec<DType::f32>(static_cast<const float*>(a.bias) + col0 + j);
        }
      }
      for (int64_t t = 0; t < count; t++) sum = add(sum, loadUnaligned(tiles + t * stride + i * ldt + j));
      storeUnaligned(a.out + (row0 + i) * n + col0 + j, sum);
    }
  }
}

/// Prefill: each task a column block (in L2) for every panel of rows over all of K.
void int8Tasks(void* context, int64_t begin, int64_t end) {
  const Int8Context& c = *static_cast<const Int8Context*>(context);
  const int64_t n = c.args->w.n;
  for (int64_t task = begin; task < end; task++) {
    const int64_t col0 = task * c.taskColumns;
    const int64_t col1 = col0 + c.taskColumns < c.vectorEnd ? col0 + c.taskColumns : c.vectorEnd;
    for (int64_t row0 = 0; row0 < c.rows; row0 += c.panelRows) {
      if (col1 > col0) {
        const int64_t width = col1 - col0;
        float* tile = int8Tile.floats(c.panelRows * width);
        for (int64_t p = 0; p < c.panelRows * width; p++) tile[p] = 0.0f;
        int8AccumulateAny(c, row0, col0, width, 0, c.x.blocks, tile, width);
        storeTiles(c, row0, col0, width, tile, 1, 0, width);
      }
      // Columns past the last whole vector (all of them without VNNI) in plain loops.
      const int64_t tail0 = col0 > c.vectorEnd ? col0 : c.vectorEnd;
      const int64_t tail1 = col0 + c.taskColumns < n ? col0 + c.taskColumns : n;
      if (tail1 > tail0) int8ColumnsScalar(c, row0, c.panelRows, tail0, tail1);
    }
  }
}

// Decode walks whole rows of qweight (rows cut into panels read below a plain sequential read:
// 11008-wide 4-bit rows in 3 panels measured 80-85% of the read bandwidth against 89-91% whole),
// unless the running sums of a row (int32 per piece and f32 per row of x, for every column) would
// pass this many bytes: then in panels of columns whose sums fit it, so that they stay in L2.
constexpr int64_t kDecodeSumsBytes = 256 * 1024;

/// Decode: task t accumulates blocks [t B / T, (t + 1) B / T) of every column into tile t, a panel
/// of columns at a time.
void decodeTasks(void* context, int64_t begin, int64_t end) {
  const Int8Context& c = *static_cast<const Int8Context*>(context);
  const int64_t ldt = c.vectorEnd;
  for (int64_t task = begin; task < end; task++) {
    float* tile = c.tiles + task * c.panelRows * ldt;
    for (int64_t p = 0; p < c.panelRows * ldt; p++) tile[p] = 0.0f;
    const int64_t b0 = task * c.x.blocks / c.tasks, b1 = (task + 1) * c.x.blocks / c.tasks;
    const int64_t sumsBytes = c.panelRows * (c.x.pieces + 1) * 4;  // one column's running sums
    const int64_t panelColumns = kDecodeSumsBytes / sumsBytes;
    const int64_t panels = (ldt + panelColumns - 1) / panelColumns;
    const int64_t panelWidth = (ldt / panels + kLanes - 1) / kLanes * kLanes;  // equal panels
    for (int64_t col0 = 0; col0 < ldt; col0 += panelWidth) {
      const int64_t width = ldt - col0 < panelWidth ? ldt - col0 : panelWidth;
      int8AccumulateAny(c, 0, col0, width, b0, b1, tile + col0, ldt);
    }
  }
}

thread_local Workspace decodeTiles;

// Decode's word rows of qweight per pass over a block's columns. A block of x spans 16 rows of
// 4-bit codes (32 of 8-bit). Reading 16 rows side by side (16 short runs a row apart, the strips
// in turn) measured 5-13% below a plain sequential read of the same bytes on 2 threads, where 8
// rows matched it; in this kernel, passes of 8 rows took the 4-bit 11008 x 4096 decode from 73% to
// 84% of the read bandwidth (paired runs). A pass's int32 sums are carried to the next pass.
// (Prefill reads its column block from L2 and takes a block in one pass.)
constexpr int64_t kPassRows = 8;

/// Decode (m <= 8) with VNNI: the tasks over K, then their tiles summed into out.
void decode(Int8Context& c, const Parallel& parallel) {
  const int64_t n = c.args->w.n;
  if (c.vectorEnd > 0) {
    // One task per thread (more, smaller ones measured slower: more tiles, shorter runs).
    c.tasks = parallel.threads < c.x.blocks ? parallel.threads : c.x.blocks;
    c.passRows = kPassRows;
    c.tiles = decodeTiles.floats(c.tasks * c.panelRows * c.vectorEnd);
    if (c.tasks > 1) parallel.run(parallel.pool, c.tasks, 1, decodeTasks, &c);
    else decodeTasks(&c, 0, c.tasks);
    storeTiles(c, 0, 0, c.vectorEnd, c.tiles, c.tasks, c.panelRows * c.vectorEnd, c.vectorEnd);
  }
  if (c.vectorEnd < n) int8ColumnsScalar(c, 0, c.panelRows, c.vectorEnd, n);
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

/// Room for x in bytes (see Int8Rows): `rows` rows of `pieces` byte rows, the rows from `used` on
/// zero (padding: quantized to zeros and never stored).
QuantizeContext byteRows(const QuantMatmulArgs& a, int64_t L, int64_t rows, int pieces, int64_t used) {
  const int64_t k = a.w.k, blocks = k / L;
  const int64_t pieceRows = rows * pieces;
  const size_t bytes = 2 * pieceRows * k + (pieceRows + rows) * blocks * sizeof(float);
  float* scratch = int8Scratch.floats((bytes + sizeof(float) - 1) / sizeof(float));
  QuantizeContext q{&a, L, blocks, nullptr, nullptr, scratch, scratch + pieceRows * blocks};
  q.values = reinterpret_cast<int8_t*>(q.offset + rows * blocks);
  q.quads = q.values + pieceRows * k;
  std::memset(q.values + used * pieces * k, 0, (rows - used) * pieces * k);
  std::memset(q.quads + used * pieces * k, 0, (rows - used) * pieces * k);
  for (int64_t p = used * pieces * blocks; p < pieceRows * blocks; p++) q.scale[p] = 0.0f;
  for (int64_t p = used * blocks; p < rows * blocks; p++) q.offset[p] = 0.0f;
  return q;
}

// Columns per task: without VNNI, decode takes about a page of each row of qweight per task;
// prefill keeps a column block of W (all of K) in L2 while every panel of rows goes over it.
constexpr int64_t kDecodeTaskColumns = 1024;
constexpr int64_t kPrefillL2Bytes = 512 * 1024;

/// The product for x in bytes (q filled, `pieces` per row): decode over K with VNNI, else tasks
/// over column blocks.
void runBytes(const QuantMatmulArgs& a, const QuantizeContext& q, int pieces, int64_t rows, int64_t panelRows, const Parallel& parallel) {
  const PackedWeight& w = a.w;
  Int8Context c{};
  c.args = &a;
  c.x = Int8Rows{q.blockLen, q.blocks, w.k, pieces, q.values, reinterpret_cast<const int32_t*>(q.quads), q.scale, q.offset};
  c.groupBlocks = (w.groupSize >= w.k ? w.k : w.groupSize) / q.blockLen;
  c.rows = rows;
  c.panelRows = panelRows;
  c.passRows = c.x.blockLen;  // a whole block (decode sets its own)
#if defined(__AVX512F__)
  c.vectorEnd = cpuFeatures().avx512vnni ? w.n / kLanes * kLanes : 0;
  if (a.m <= 8 && c.vectorEnd > 0) return decode(c, parallel);
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

int64_t panelRowsOf(int64_t m) { return m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8; }

}  // namespace

void quantMatmulInt8(const QuantMatmulArgs& a, const Parallel& parallel) {
  const int64_t L = blockLengthOf(a.w);
  const int64_t panelRows = panelRowsOf(a.m);
  const int64_t rows = (a.m + panelRows - 1) / panelRows * panelRows;
  QuantizeContext q = byteRows(a, L, rows, 1, a.m);
  if (parallel.threads > 1 && a.m > 1) parallel.run(parallel.pool, a.m, 1, quantizeTasks, &q);
  else quantizeTasks(&q, 0, a.m);
  runBytes(a, q, 1, rows, panelRows, parallel);
}

// The most rows of x the exact split takes: its dot products grow with rows x 3 pieces, and past 2
// rows the f32 FMA kernel was faster (4096 x 4096 4-bit, 2 threads: m = 2 0.41 ms against 0.61;
// m = 4 1.41 against 0.93; m = 8, where 24 sums no longer fit the registers, 12.7 against 1.79).
constexpr int64_t kExactRows = 2;

bool qgemvExact(const QuantMatmulArgs& a, const Parallel& parallel) {
#if defined(__AVX512F__)
  const PackedWeight& w = a.w;
  const int64_t L = blockLengthOf(w);
  if (!cpuFeatures().avx512vnni || w.bits == 3 || a.m > kExactRows || w.k % L != 0 || w.n < kLanes) return false;
  const int64_t panelRows = panelRowsOf(a.m);
  QuantizeContext q = byteRows(a, L, panelRows, 3, a.m);
  for (int64_t i = 0; i < a.m; i++) {
    if (!splitRow(a.x + i * w.k, w.k, L, q.values + 3 * i * w.k, q.scale + 3 * i * q.blocks, q.offset + i * q.blocks)) return false;
    for (int r = 0; r < 3; r++) quadsOfRow(q.values + (3 * i + r) * w.k, w.k, w.bits, q.quads + (3 * i + r) * w.k);
  }
  runBytes(a, q, 3, panelRows, panelRows, parallel);
  return true;
#else
  return false;
#endif
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
