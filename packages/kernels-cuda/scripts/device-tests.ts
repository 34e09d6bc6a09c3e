// The GPU checks of test/gpu/, run outside vitest: scripts/device-bundle.mjs bundles this file
// with everything it imports into .device/gpu-tests.mjs, carried to a GPU machine without
// node_modules. Prints one line per check and writes $OUT/gpu-tests.json; exits 1 on a failure.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { available, deviceInfo, memoryStats, unavailableReason } from '../src/index';
import { gpuChecks } from '../test/gpu/index';

interface Result {
  family: string;
  name: string;
  status: 'pass' | 'fail';
  ms: number;
  message?: string;
}

async function main(): Promise<number> {
  if (!available) {
    console.error(`no GPU here: ${unavailableReason}`);
    return 2;
  }
  const device = deviceInfo();
  console.log(`${device.name}, compute capability ${device.computeCapability.join('.')}`);
  const results: Result[] = [];
  for (const [family, checks] of Object.entries(gpuChecks)) {
    for (const check of checks) {
      const started = performance.now();
      try {
        await check.run();
        results.push({ family, name: check.name, status: 'pass', ms: performance.now() - started });
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        results.push({
          family,
          name: check.name,
          status: 'fail',
          ms: performance.now() - started,
          message,
        });
      }
      const r = results[results.length - 1]!;
      console.log(`${r.status.toUpperCase()} ${family}: ${r.name} (${r.ms.toFixed(0)} ms)`);
      if (r.message) console.log(r.message);
    }
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  const summary = {
    device,
    memory: memoryStats(),
    passed: results.length - failed,
    failed,
    results,
  };
  writeFileSync(join(process.env.OUT ?? '.', 'gpu-tests.json'), JSON.stringify(summary, null, 2));
  console.log(`${results.length - failed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

main().then((code) => process.exit(code));
