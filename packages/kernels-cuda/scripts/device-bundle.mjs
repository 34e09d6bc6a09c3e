// Prepares .device/ (at the repository root) for a run on a lent GPU machine, per
// /work/shared/docs/GPU.md: the GPU checks and the benchmark bundled into single files with
// every dependency inlined (node_modules does not travel), the addon beside them, Node itself
// (xz), torch's peer script and run.sh. Build the addon first (npm run build). Then, with the
// device tool: run `bash .device/run.sh` with carry [".device"]; results come back from $OUT.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(packageDir, '..', '..');
const out = join(root, '.device');
const addon = join(packageDir, 'build', 'Release', 'slimlm_cuda.node');

if (!existsSync(addon)) {
  console.error('@slimlm/kernels-cuda: no addon to carry; build it first (npm run build)');
  process.exit(1);
}
mkdirSync(out, { recursive: true });

await build({
  entry: {
    'gpu-tests': join(packageDir, 'scripts/device-tests.ts'),
    'gpu-bench': join(packageDir, 'bench/device-bench.ts'),
  },
  outDir: out,
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  noExternal: [/.*/],
  splitting: false,
  sourcemap: false,
  dts: false,
  clean: false,
  silent: true,
  outExtension: () => ({ js: '.mjs' }),
});

copyFileSync(addon, join(out, 'slimlm_cuda.node'));
copyFileSync(join(packageDir, 'bench/torch_peer.py'), join(out, 'torch_peer.py'));
const stamp = JSON.parse(readFileSync(join(packageDir, 'build', 'slimlm-cuda.json'), 'utf8'));

const node = join(out, 'node.xz');
if (!existsSync(node)) {
  const binary = realpathSync(process.execPath);
  writeFileSync(node, execFileSync('xz', ['-T2', '-c', binary], { maxBuffer: 1 << 30 }));
}

const run = join(out, 'run.sh');
writeFileSync(
  run,
  `#!/bin/bash
# On the GPU machine, from the repository root: bash .device/run.sh [--sanitize]
# Addon built for ${stamp.archs.join(', ')} with ${stamp.home}.
set -u
OUT="\${OUT:-/tmp/slimlm-out}"; mkdir -p "$OUT"
xz -dc .device/node.xz > /tmp/node && chmod +x /tmp/node
export SLIMLM_CUDA_ADDON="$PWD/.device/slimlm_cuda.node"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/nvidia-smi.csv" 2>&1
if [ "\${1:-}" = "--sanitize" ]; then
  compute-sanitizer --tool memcheck --print-limit 20 /tmp/node .device/gpu-tests.mjs > "$OUT/gpu-tests.log" 2>&1
else
  /tmp/node .device/gpu-tests.mjs > "$OUT/gpu-tests.log" 2>&1
fi
echo "gpu-tests exit $?"
/tmp/node .device/gpu-bench.mjs > "$OUT/gpu-bench.log" 2>&1; echo "gpu-bench exit $?"
python3 .device/torch_peer.py > "$OUT/torch-peer.json" 2> "$OUT/torch-peer.log"; echo "torch exit $?"
tail -n 60 "$OUT/gpu-tests.log"; cat "$OUT/gpu-bench.log"
`,
);
chmodSync(run, 0o755);
console.log(
  `@slimlm/kernels-cuda: .device/ is ready (${stamp.archs.join(', ')}); run: bash .device/run.sh`,
);
