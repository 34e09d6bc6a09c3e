{
  # Every kernel family's native/<family>/isa/*.cc is compiled once per ISA into a static library;
  # the addon (native/runtime, native/<family>/bindings.cc) links all three and picks one at load
  # (native/runtime/dispatch.cc). Sources are globbed: a new kernel file needs no edit here.
  "variables": {
    "kernel_sources": ["<!@(ls -1 native/*/isa/*.cc)"],
    "common_flags": ["-O3", "-std=c++17", "-fPIC", "-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"]
  },
  "targets": [
    {
      "target_name": "kernels_avx512",
      "type": "static_library",
      "sources": ["<@(kernel_sources)"],
      "include_dirs": ["native/include", "native"],
      "defines": ["SLIMLM_ISA=avx512"],
      "cflags_cc": ["<@(common_flags)", "-mavx512f", "-mavx512dq", "-mavx512bw", "-mavx512vl", "-mavx512bf16", "-mavx512vnni", "-mavx2", "-mfma", "-mf16c"]
    },
    {
      "target_name": "kernels_avx2",
      "type": "static_library",
      "sources": ["<@(kernel_sources)"],
      "include_dirs": ["native/include", "native"],
      "defines": ["SLIMLM_ISA=avx2"],
      "cflags_cc": ["<@(common_flags)", "-mavx2", "-mfma", "-mf16c"]
    },
    {
      "target_name": "kernels_scalar",
      "type": "static_library",
      "sources": ["<@(kernel_sources)"],
      "include_dirs": ["native/include", "native"],
      "defines": ["SLIMLM_ISA=scalar"],
      "cflags_cc": ["<@(common_flags)"]
    },
    {
      "target_name": "slimlm_cpu",
      "sources": ["<!@(ls -1 native/runtime/*.cc native/*/bindings.cc)"],
      "dependencies": ["kernels_avx512", "kernels_avx2", "kernels_scalar"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native/include", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-O3", "-std=c++17", "-fexceptions", "-Wall"],
      "libraries": ["-lpthread"]
    }
  ]
}
