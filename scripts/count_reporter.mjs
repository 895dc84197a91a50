// A node:test reporter that counts, per test file, the top-level tests that ran and passed
// (skipped and todo tests not counted) and writes the counts as JSON at the end. `make test` runs
// it beside the usual reporter; scripts/test_counts.py compares the counts with the checked-in
// minimums in tests/minimum-tests.json, so a suite that silently runs fewer tests fails the build.
import { relative } from 'node:path';

export default async function* countReporter(source) {
  const counts = {};
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const d = event.data;
    if (d.nesting !== 0 || d.skip || d.todo) continue;
    const file = d.file ? relative(process.cwd(), d.file) : '(unknown file)';
    counts[file] ??= { passed: 0, failed: 0 };
    counts[file][event.type === 'test:pass' ? 'passed' : 'failed'] += 1;
  }
  yield `${JSON.stringify(counts, null, 2)}\n`;
}
