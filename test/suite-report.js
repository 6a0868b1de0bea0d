// The end of `npm test`: the time of each test file (slowest first), the name of each test that
// failed (so the last lines of a long run say what to look at), then one closing line for both
// suites, "N passed, N failed". Reads the JSON reports jest wrote (--json --outputFile).
// `--record FILE` also writes the files' times there (test/file-times.json: the order of a run on
// a fresh clone, test/sequencer.js).
const { writeFileSync } = require('fs');
const { relative } = require('path');

function report(files, record) {
  let passed = 0;
  let failed = 0;
  const times = [];
  const failures = [];
  for (const file of files) {
    let result;
    try {
      result = require(file);
    } catch {
      failed += 1; // the suite did not write its report: it crashed
      continue;
    }
    passed += result.numPassedTests;
    failed += result.numFailedTests + result.numRuntimeErrorTestSuites;
    for (const suite of result.testResults) {
      const name = relative(process.cwd(), suite.name);
      times.push({ name, seconds: (suite.endTime - suite.startTime) / 1000 });
      if (suite.status === 'failed' && suite.assertionResults.length === 0) failures.push(`${name}: ${suite.message.split('\n')[0]}`);
      for (const t of suite.assertionResults) if (t.status === 'failed') failures.push(`${name} › ${t.fullName}`);
    }
  }
  times.sort((a, b) => b.seconds - a.seconds);
  const total = times.reduce((sum, t) => sum + t.seconds, 0);
  process.stdout.write('== time per test file (slowest first)\n');
  for (const t of times) process.stdout.write(`${t.seconds.toFixed(1).padStart(8)} s  ${t.name}\n`);
  process.stdout.write(`${total.toFixed(1).padStart(8)} s  all ${times.length} files\n`);
  if (record) {
    const recorded = Object.fromEntries(times.map((t) => [t.name, Number(t.seconds.toFixed(1))]).sort(([a], [b]) => (a < b ? -1 : 1)));
    writeFileSync(record, `${JSON.stringify(recorded, null, 2)}\n`);
  }
  if (failures.length > 0) process.stdout.write(`== failed\n${failures.map((f) => `  ${f}\n`).join('')}`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
}

const args = process.argv.slice(2);
const at = args.indexOf('--record');
const record = at >= 0 ? args.splice(at, 2)[1] : undefined;
report(args, record);
