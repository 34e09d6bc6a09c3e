{
  # The addon: host code (native/runtime, native/bindings: g++ against the CUDA runtime headers) and
  # the kernels (native/kernels/*.cu: nvcc, one object per file, for every target that
  # scripts/cuda-toolkit.mjs lists), linked with the static CUDA runtime so that it needs no
  # library path. Sources are globbed: a new kernel file needs no edit here. build-native.mjs runs
  # this only where nvcc exists.
  "variables": {
    "cuda_home": "<!(node scripts/cuda-toolkit.mjs home)",
    "nvcc": "<!(node scripts/cuda-toolkit.mjs nvcc)",
    "gencode": ["<!@(node scripts/cuda-toolkit.mjs gencode)"]
  },
  "targets": [
    {
      "target_name": "slimlm_cuda",
      "sources": ["<!@(ls -1 native/runtime/*.cc native/bindings/*.cc native/kernels/*.cu)"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native",
        "<(cuda_home)/include"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-O2", "-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "rules": [
        {
          "rule_name": "nvcc",
          "extension": "cu",
          "inputs": ["<!@(ls -1 native/*/*.h native/*/*.cuh)"],
          "outputs": ["<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).o"],
          "action": [
            "<(nvcc)", "<@(gencode)", "-O3", "-std=c++17", "-lineinfo", "--threads=1",
            "-Xcompiler", "-fPIC", "-Xptxas", "-warn-spills",
            "-I<(module_root_dir)/native", "-c", "<(RULE_INPUT_PATH)", "-o", "<@(_outputs)"
          ],
          "message": "nvcc <(RULE_INPUT_PATH)",
          "process_outputs_as_sources": 1
        }
      ],
      "libraries": ["<(cuda_home)/lib64/libcudart_static.a", "-ldl", "-lrt", "-lpthread"]
    }
  ]
}
