// The end of `npm test`: the time of each test file (slowest first), then one closing line for
// both suites, "N passed, N failed". Reads the JSON reports jest wrote (--json --outputFile).
const { relative } = require('path');

function report(files) {
  let passed = 0;
  let failed = 0;
  const times = [];
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
      times.push({ name: relative(process.cwd(), suite.name), seconds: (suite.endTime - suite.startTime) / 1000 });
    }
  }
  times.sort((a, b) => b.seconds - a.seconds);
  const total = times.reduce((sum, t) => sum + t.seconds, 0);
  process.stdout.write('== time per test file (slowest first)\n');
  for (const t of times) process.stdout.write(`${t.seconds.toFixed(1).padStart(8)} s  ${t.name}\n`);
  process.stdout.write(`${total.toFixed(1).padStart(8)} s  all ${times.length} files\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
}

report(process.argv.slice(2));
