// The GPTQ family: the fused column loop of one lazy-update block ('gptqQuantizeBlock', whose
// contract and reference kernel live in @slimlm/gptq, src/algorithm/quantize-block.ts), round to
// nearest ('gptqRtnQuantize', algorithm/rtn.ts) and the packing of codes into qweight words
// ('gptqPackCodes', format/pack-codes.ts).
#pragma once

#include "slimlm/common.h"

namespace slimlm {

/// One block of `cols` columns for `rows` rows, all arrays contiguous and row-major:
/// w, q, err, losses [rows, cols] f32, codes [rows, cols] u8, hinv [cols, cols] f32 (upper
/// triangle read), scales and zeros [paramRows, rows] f32, params [cols] i32 (< paramRows).
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

/// One ISA's GPTQ kernels.
struct GptqTable {
  void (*quantizeBlock)(const GptqBlockArgs& args, const Parallel& parallel);
};

namespace avx512 { const GptqTable& gptqTable(); }
namespace avx2 { const GptqTable& gptqTable(); }
namespace scalar { const GptqTable& gptqTable(); }

/// Round to nearest of w [rows, cols] f32 in groups of `groupSize` consecutive columns (the last
/// may be shorter): codes u8 and q f32 [rows, cols], scales and zeros f32 [groups, rows], losses
/// f64 [rows] (Σ (w - q)² of each row).
struct RtnArgs {
  int64_t rows, cols, groupSize;
  float maxq;
  bool sym;
  const float* w;
  uint8_t* codes;
  float* q;
  float* scales;
  float* zeros;
  double* losses;
};

/// qweight words [k * bits / 32, n] of codes [n, k] u8 (k a multiple of 32): each column's codes
/// as one little-endian bit stream along k (FORMATS.md). A code that does not fit in `bits` sets
/// *overflow to 1 (the words are then meaningless).
struct PackCodesArgs {
  int64_t n, k;
  int32_t bits;
  const uint8_t* codes;
  int32_t* words;
  int32_t* overflow;
};

struct RtnTable {
  void (*rtnQuantize)(const RtnArgs& args, const Parallel& parallel);
  void (*packCodes)(const PackCodesArgs& args, const Parallel& parallel);
};

namespace avx512 { const RtnTable& rtnTable(); }
namespace avx2 { const RtnTable& rtnTable(); }
namespace scalar { const RtnTable& rtnTable(); }

}  // namespace slimlm
