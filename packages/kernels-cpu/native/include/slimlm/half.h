// f16 / bf16 <-> f32 for the scalar paths, round to nearest even, matching @slimlm/core's half.ts
// bit for bit. Static inline: each ISA build gets its own copy (see common.h).
#pragma once

#include <cstdint>
#include <cstring>

namespace slimlm {

static inline float bitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

static inline uint32_t floatToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

static inline float f16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  if (exponent == 0x1f) return bitsToFloat(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    if (mantissa == 0) return bitsToFloat(sign);
    int e = -1;
    do {
      e++;
      mantissa <<= 1;
    } while ((mantissa & 0x400) == 0);
    return bitsToFloat(sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mantissa & 0x3ff) << 13));
  }
  return bitsToFloat(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

static inline uint16_t f32ToF16(float value) {
  const uint32_t bits = floatToBits(value);
  const uint32_t sign = (bits >> 16) & 0x8000;
  const int32_t exponent = static_cast<int32_t>((bits >> 23) & 0xff);
  uint32_t mantissa = bits & 0x7fffff;
  if (exponent == 0xff) {
    if (mantissa == 0) return static_cast<uint16_t>(sign | 0x7c00);
    const uint32_t payload = mantissa >> 13;
    return static_cast<uint16_t>(sign | 0x7c00 | (payload == 0 ? 0x200 : payload));
  }
  const int32_t halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00);
  if (halfExponent <= 0) {
    if (halfExponent < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000;
    const int shift = 14 - halfExponent;
    const uint32_t kept = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    return static_cast<uint16_t>(sign | (kept + ((rest > half || (rest == half && (kept & 1))) ? 1 : 0)));
  }
  const uint32_t truncated = sign | (static_cast<uint32_t>(halfExponent) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fff;
  return static_cast<uint16_t>(truncated + ((rest > 0x1000 || (rest == 0x1000 && (truncated & 1))) ? 1 : 0));
}

static inline float bf16ToF32(uint16_t b) { return bitsToFloat(static_cast<uint32_t>(b) << 16); }

static inline uint16_t f32ToBf16(float value) {
  const uint32_t bits = floatToBits(value);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x7fffff) != 0) {
    const uint32_t top = bits >> 16;
    return static_cast<uint16_t>((top & 0x7f) == 0 ? top | 0x40 : top);
  }
  return static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

}  // namespace slimlm
