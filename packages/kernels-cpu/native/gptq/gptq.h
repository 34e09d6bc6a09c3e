// The GPTQ family: the fused column loop of one lazy-update block ('gptqQuantizeBlock', whose
// contract and reference kernel live in @slimlm/gptq, src/algorithm/quantize-block.ts).
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

}  // namespace slimlm
