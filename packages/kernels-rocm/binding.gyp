{
  # The addon: kernels-cuda's sources (scripts/rocm-toolkit.mjs finds them), built for AMD GPUs
  # through their one portability header (native/common/gpu.h, selected by SLIMLM_HIP). Host code
  # (runtime, bindings) is compiled by g++ against HIP's headers; the kernels (*.cu) by hipcc, one
  # object per file holding a code object for every target rocm-toolkit.mjs lists; g++ links them
  # with libamdhip64 (Debian's hipcc must not link, TOOLCHAIN.md). build-native.mjs runs this only
  # where hipcc exists.
  "variables": {
    "hipcc": "<!(node scripts/rocm-toolkit.mjs hipcc)",
    "hip_home": "<!(node scripts/rocm-toolkit.mjs home)",
    "hip_lib": "<!(node scripts/rocm-toolkit.mjs lib)",
    "native": "<!(node scripts/rocm-toolkit.mjs native)",
    "offload": ["<!@(node scripts/rocm-toolkit.mjs offload)"]
  },
  "targets": [
    {
      "target_name": "slimlm_rocm",
      "sources": ["<!@(node scripts/rocm-toolkit.mjs sources)"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(native)",
        "<(hip_home)/include"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "__HIP_PLATFORM_AMD__", "SLIMLM_HIP"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-O2", "-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "rules": [
        {
          "rule_name": "hipcc",
          "extension": "cu",
          "inputs": ["<!@(ls -1 <(native)/*/*.h <(native)/*/*.cuh)"],
          "outputs": ["<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).o"],
          "action": [
            "env", "HIP_PLATFORM=amd", "<(hipcc)", "-x", "hip", "-DSLIMLM_HIP", "<@(offload)",
            "-O3", "-std=c++17", "-fPIC", "-I<(native)", "-c", "<(RULE_INPUT_PATH)", "-o", "<@(_outputs)"
          ],
          "message": "hipcc <(RULE_INPUT_PATH)",
          "process_outputs_as_sources": 1
        }
      ],
      "libraries": ["-L<(hip_lib)", "-lamdhip64", "-Wl,-rpath,<(hip_lib)"]
    }
  ]
}
