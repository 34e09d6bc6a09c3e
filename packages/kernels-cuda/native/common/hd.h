// SLIMLM_HD marks helpers that host and device code share (plain inline functions for g++).
#pragma once

#ifdef __CUDACC__
#define SLIMLM_HD __host__ __device__ __forceinline__
#else
#define SLIMLM_HD inline
#endif
