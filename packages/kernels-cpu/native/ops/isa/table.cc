#include "ops/ops.h"

namespace slimlm {
namespace SLIMLM_ISA {

const OpsTable& opsTable() {
  static const OpsTable table = {SLIMLM_ISA_NAME};
  return table;
}

}  // namespace SLIMLM_ISA
}  // namespace slimlm
