#!/usr/bin/env node
// Root `npm test`: runs every project's `test` target through nx, then sums the vitest JSON
// reports (written by ../vitest.shared.ts) into the one closing line CI reads:
//   N passed, N failed, N skipped
// Exit status is non-zero if nx failed, any test failed, or no results were found.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join('.test-results', 'vitest.json');

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

// Projects that have a `test` target (nx infers targets from package.json scripts, and may
// also find them in project.json or the package.json "nx" field).
function testProjects() {
  const dirs = [];
  for (const group of ['packages', 'examples']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dir = join(base, entry.name);
      const pkgFile = join(dir, 'package.json');
      const projFile = join(dir, 'project.json');
      const pkg = existsSync(pkgFile) ? readJson(pkgFile) : {};
      const proj = existsSync(projFile) ? readJson(projFile) : {};
      if (pkg.scripts?.test || pkg.nx?.targets?.test || proj.targets?.test) dirs.push(dir);
    }
  }
  return dirs;
}

const projects = testProjects();

// Remove earlier reports so a stale file is never counted. On an nx cache hit, nx restores
// the target's cached output ({projectRoot}/.test-results), so cached results still count.
for (const dir of projects) rmSync(join(dir, '.test-results'), { recursive: true, force: true });

const nx = spawnSync(
  join(root, 'node_modules', '.bin', 'nx'),
  ['run-many', '-t', 'test', '--outputStyle=static'],
  {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', ...process.env },
  },
);
const nxFailed = nx.status !== 0;
if (nx.error) console.error(`could not run nx: ${nx.error.message}`);

let passed = 0;
let failed = 0;
let skipped = 0;
let reports = 0;
for (const dir of projects) {
  const name = relative(root, dir);
  const file = join(dir, RESULTS);
  if (!existsSync(file)) {
    // The target did not run, crashed, or did not report: count the project as one failure
    // so the closing line can never read "0 failed" for a broken run.
    console.error(`no test results from ${name} (${RESULTS} missing)`);
    failed += 1;
    continue;
  }
  const r = readJson(file);
  reports += 1;
  passed += r.numPassedTests ?? 0;
  failed += r.numFailedTests ?? 0;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A test file that fails to load (syntax error, bad import) has no failed tests in it,
  // only a failed file: count each such file as a failure too.
  for (const file of r.testResults ?? []) {
    const failedInFile = (file.assertionResults ?? []).filter((a) => a.status === 'failed');
    if (file.status === 'failed' && failedInFile.length === 0) {
      console.error(`test file failed to run: ${relative(root, file.name ?? name)}`);
      failed += 1;
    }
  }
}

if (reports === 0) console.error('no test results were found');
if (nxFailed) console.error(`nx run-many -t test failed (exit ${nx.status ?? nx.signal})`);

// Must stay the last line of output: CI parses it.
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = nxFailed || failed > 0 || reports === 0 ? 1 : 0;
