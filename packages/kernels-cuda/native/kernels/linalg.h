// Dense linear algebra for GPTQ on the GPU: Cholesky factorisation, the inverse from a factor, and
// the GPTQ column loop of one lazy-update block ('gptqQuantizeBlock', whose contract and reference
// kernel live in @slimlm/gptq, src/algorithm/quantize-block.ts). Argument structs, launchers and
// the launch plans, which are plain host code so that the unit tests check them without a GPU.
#pragma once

#include "common/gpu.h"

#include <algorithm>
#include <cstdint>

namespace slimlm::cuda {

// ---- linalg.cu: cholesky, choleskyInverse ----

/// Order of the square tiles every linalg kernel works on: the diagonal tile a single block
/// factors or inverts (in f64, in shared memory), and the output tile of the tiled products
/// (f32, 256 threads of 4 x 4 outputs, kLinalgTileK channels a step).
constexpr int kLinalgTile = 64, kLinalgTileK = 16, kLinalgThreads = 256;

/// A square matrix of order n read through strides (in elements): element (i, j) is at
/// data[i * rowStride + j * colStride]. Swapping the strides reads the transpose, which is how
/// the upper triangle of a matrix is read as a lower one.
struct SquareView {
  const float* data;
  int64_t n, rowStride, colStride;
};

/// Written by the factorisation when a pivot is not positive (or NaN): the first such pivot of
/// the matrix and the value found there. Device memory, zeroed by the caller; read once, after
/// the last kernel.
struct CholeskyStatus {
  int32_t failed;
  int32_t pivot;
  double value;
};

/// out [n, n] contiguous = the lower Cholesky factor L of `a` (only a's lower triangle read, as
/// seen through its strides), zeros above the diagonal; with `upper`, out = Lᵀ instead. Blocked
/// and right-looking, one tile column at a time: the diagonal tile is factored by one block (f64),
/// the panel below is multiplied by the tile's inverse (f32 products), and the trailing matrix
/// takes the panel's rank-64 update (f32 products). `diagonalInverse` is scratch of
/// kLinalgTile² floats. Once a pivot fails, every later kernel returns at once.
struct CholeskyArgs {
  SquareView a;
  float* out;
  bool upper;
  float* diagonalInverse;
  CholeskyStatus* status;
};
void launchCholesky(const CholeskyArgs& args, cudaStream_t stream);

/// out [n, n] contiguous = (L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹ for the lower factor L seen through `factor` (only
/// its lower triangle read; an upper factor U is passed with its strides swapped, since
/// UᵀU = L Lᵀ for L = Uᵀ). `inverse` is scratch [n, n] that receives L⁻¹: the diagonal tiles are
/// inverted by one block each (f64), the tiles below them by one launch per distance from the
/// diagonal, and out by the product L⁻ᵀ L⁻¹ over the lower tiles, mirrored.
struct CholeskyInverseArgs {
  SquareView factor;
  float* out;
  float* inverse;
};
void launchCholeskyInverse(const CholeskyInverseArgs& args, cudaStream_t stream);

/// Shared memory of the tiled products: kLinalgTileK channels of each operand, staged along the
/// tile (rows padded by 4 floats).
struct LinalgStaging {
  float a[kLinalgTileK][kLinalgTile + 4];  // a[k][row]
  float b[kLinalgTileK][kLinalgTile + 4];  // b[k][col]
};
/// The diagonal tile a single block factors or inverts, in f64 (rows padded by one).
using DiagonalTile = double[kLinalgTile][kLinalgTile + 1];
/// An f32 tile kept whole in shared memory (rows padded by one).
using SharedTile = float[kLinalgTile][kLinalgTile + 1];

/// How the linalg kernels cover an order-n matrix.
struct CholeskyPlan {
  int64_t tiles;         // tile rows (and columns): ceil(n / kLinalgTile)
  int64_t tileColumns;   // cholesky: launches of the diagonal kernel, one per tile column
  int64_t productBlocks;  // blocks of choleskyInverse's final product: the lower tiles
  int64_t diagonalSharedBytes;  // the diagonal-tile kernels: the f64 tile and the failure flag
  int64_t productSharedBytes;   // the tiled products at most: staging and two f32 tiles
  int64_t scratchFloats;  // cholesky's diagonalInverse (choleskyInverse's L⁻¹ is n² floats)
};

inline CholeskyPlan planCholesky(int64_t n) {
  CholeskyPlan plan{};
  plan.tiles = (n + kLinalgTile - 1) / kLinalgTile;
  plan.tileColumns = plan.tiles;
  plan.productBlocks = plan.tiles * (plan.tiles + 1) / 2;
  plan.diagonalSharedBytes = static_cast<int64_t>(sizeof(DiagonalTile) + sizeof(double) + sizeof(int));
  plan.productSharedBytes = static_cast<int64_t>(sizeof(LinalgStaging) + 2 * sizeof(SharedTile));
  plan.scratchFloats = int64_t{kLinalgTile} * kLinalgTile;
  return plan;
}

// ---- gptq_update.cu: gptqQuantizeBlock ----

/// One block of `cols` (B) columns for `rows` (N) rows, every array contiguous and row-major:
/// w, q, err, losses [N, B] f32, codes [N, B] u8, hinv [B, B] f32 (upper triangle read), scales
/// and zeros [paramRows, N] f32, params [B] i32 (< paramRows).
struct GptqBlockArgs {
  int64_t rows, cols, paramRows;
  float maxq;
  const float* w;
  const float* hinv;
  const float* scales;
  const float* zeros;
  const int32_t* params;
  float* q;
  float* err;
  float* losses;
  uint8_t* codes;
};
void launchGptqQuantizeBlock(const GptqBlockArgs& args, cudaStream_t stream, int multiprocessors);

/// Warps per block of the GPTQ block kernel; each takes one row at a time.
constexpr int kGptqWarps = 8;
/// Columns up to which a row lives in registers (ceil(B / 32) per lane) and hinv's upper triangle
/// in shared memory; wider blocks keep the row in `err` and read hinv from global memory.
constexpr int64_t kGptqMaxRegisterColumns = 128;

struct GptqBlockPlan {
  bool registers;        // the register kernel (B <= 128) or the wide one
  int slots;             // register kernel: columns a lane owns, ceil(B / 32)
  int64_t blocks;        // grid: warps loop over rows
  int64_t sharedBytes;   // register kernel: hinv's packed upper triangle, B (B + 1) / 2 floats
};

inline GptqBlockPlan planGptqBlock(int64_t rows, int64_t cols, int multiprocessors) {
  GptqBlockPlan plan{};
  plan.registers = cols <= kGptqMaxRegisterColumns;
  plan.slots = plan.registers ? static_cast<int>((cols + 31) / 32) : 0;
  plan.sharedBytes = plan.registers ? cols * (cols + 1) / 2 * 4 : 0;
  // Each block loads hinv once, so a few blocks per multiprocessor, each looping over rows.
  const int64_t wanted = (rows + kGptqWarps - 1) / kGptqWarps;
  plan.blocks = std::max<int64_t>(1, std::min<int64_t>(wanted, int64_t{4} * std::max(1, multiprocessors)));
  return plan;
}

}  // namespace slimlm::cuda
