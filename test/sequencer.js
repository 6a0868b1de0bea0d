// The order in which jest hands test files to its workers. Jest runs the slowest files first
// when its cache knows their durations, and by file size when it does not, as on a fresh clone in
// CI, where a long file can start last and run alone at the end (about two minutes more on the
// cluster suite). This sequencer falls back to the durations of the last recorded full run
// (test/file-times.json, written by `RECORD_TIMES=1 npm test`) before the file size, so a fresh
// clone runs the longest files first too.
const { readFileSync } = require('fs');
const { join, relative } = require('path');
const Sequencer = require('@jest/test-sequencer').default;

const ROOT = join(__dirname, '..');
const RECORDED = readRecorded(join(__dirname, 'file-times.json'));

function readRecorded(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
}

class RecordedTimesSequencer extends Sequencer {
  time(test) {
    const cached = super.time(test);
    if (cached != null) return cached;
    const seconds = RECORDED[relative(ROOT, test.path)];
    return seconds == null ? undefined : seconds * 1000;
  }
}

module.exports = RecordedTimesSequencer;
