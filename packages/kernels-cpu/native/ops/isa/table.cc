#include "ops/ops.h"

namespace slimlm {
namespace SLIMLM_ISA {

// Defined in this directory's other files, for this ISA.
void copy(const CopyArgs& args, const Parallel& parallel);
void fill(const FillArgs& args, const Parallel& parallel);
void select(const SelectArgs& args, const Parallel& parallel);
void map(const MapArgs& args, const Parallel& parallel);
void reduce(const ReduceArgs& args, const Parallel& parallel);
void softmax(const SoftmaxArgs& args, const Parallel& parallel);
void norm(const NormArgs& args, const Parallel& parallel);
void rotary(const RotaryArgs& args, const Parallel& parallel);
void attention(const AttentionArgs& args, const Parallel& parallel);
void crossEntropy(const CrossEntropyArgs& args, const Parallel& parallel);
void gather(const GatherArgs& args, const Parallel& parallel);
void scatterAdd(const ScatterAddArgs& args, const Parallel& parallel);

const OpsTable& opsTable() {
  static const OpsTable table = {
      SLIMLM_ISA_NAME, copy, fill, select, map, reduce, softmax, norm, rotary, attention, crossEntropy, gather,
      scatterAdd,
  };
  return table;
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
