import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import { existsSync, readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import type { Ack, WriterHandle, Workload } from '../../../harness/index';
import { sleep, waitFor } from '../wait';

// Reading a binlog archive (segments: a binlog file and its manifest, as the archiver publishes
// them) and the nodes' own binlogs with mariadb-binlog, as a restore replays them.

/** A segment manifest as the archiver writes it. */
export interface Segment { name: string; startAfter: string; firstGtid: string; lastGtid: string; sourcePod: string; gapBefore: boolean;
  sizeBytes: number; sha256: string; firstEventTime: string; lastEventTime: string }

/** The seq of a GTID (0 for none). */
export const seqOf = (gtid: string): number => (gtid ? Number(gtid.split('-')[2]) : 0);

/** The domain-0 seqs a restore replays from a segment: those of its file after startAfter. */
export function replayedSeqs(dir: string, s: Segment): number[] {
  const text = execFileSync('mariadb-binlog', ['--no-defaults', join(dir, `${s.name}.binlog`)], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return [...text.matchAll(/\sGTID 0-\d+-(\d+)/g)].map((m) => Number(m[1])).filter((n) => n > seqOf(s.startAfter));
}

/** Every segment of an archive directory, by name. */
export function segmentsIn(dir: string): Segment[] {
  return (existsSync(dir) ? readdirSync(dir) : []).filter((f) => f.endsWith('.json')).sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Segment);
}

/** The domain-0 seqs in the binlog files of a directory (a node's data directory). */
export function binlogSeqsIn(dir: string): number[] {
  return readdirSync(dir).filter((f) => /^mysql-bin\.\d+$/.test(f)).flatMap((f) => {
    const text = execFileSync('mariadb-binlog', ['--no-defaults', join(dir, f)], { encoding: 'utf8', maxBuffer: 1 << 28 });
    return [...text.matchAll(/\sGTID 0-\d+-(\d+)/g)].map((m) => Number(m[1]));
  });
}

/**
 * The archive in `dir`, decoded as a restore replays it, holds the seqs the nodes wrote (`written`:
 * every seq any node's binlog holds; Galera skips a seq for a replicated statement that changes
 * nothing) exactly once each, in order, from its start to its end, with no gap marked; each manifest's range
 * follows the one before (its first seq the next one written) and its size and sha256 are its
 * file's. Returns the seqs.
 */
export function expectWholeArchive(dir: string, written: number[]): number[] {
  const all = segmentsIn(dir);
  const seqs = all.flatMap((s) => replayedSeqs(dir, s));
  expect(seqs).toEqual(written.filter((n) => n >= seqs[0] && n <= seqs.at(-1)!));
  expect(all.filter((s) => s.gapBefore)).toEqual([]);
  for (const [i, s] of all.entries()) {
    if (i > 0) expect(seqOf(s.startAfter)).toBe(seqOf(all[i - 1].lastGtid));
    expect(seqOf(s.firstGtid)).toBe(written.find((n) => n > seqOf(s.startAfter)));
    const bytes = readFileSync(join(dir, `${s.name}.binlog`));
    expect(bytes.length).toBe(s.sizeBytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(s.sha256);
    expect(s.firstEventTime <= s.lastEventTime).toBe(true);
  }
  return seqs;
}

/** What the writer acknowledged around a noted time T and a mistaken DROP TABLE after it. */
export interface PointAndDrop {
  /** T, in ms: a whole second (binlog events carry whole seconds). */
  readonly pointMs: number;
  /** The ids acknowledged before the DROP was sent. */
  readonly ackedBeforeDrop: number[];
  /** Every acknowledged write with its acknowledgement time. */
  readonly acks: Ack[];
}

/**
 * The point-in-time scenario after the full backup: 3 s of writes, T noted (a whole second at
 * least a second ahead, waited for), 3 s more, the DROP sent by `drop`, 2 s more, the writer
 * stopped (without errors).
 */
export async function noteTimeThenDrop(writer: WriterHandle, drop: () => Promise<unknown>): Promise<PointAndDrop> {
  await sleep(3000);
  const pointMs = Math.ceil((Date.now() + 1000) / 1000) * 1000;
  await sleep(pointMs - Date.now());
  await sleep(3000);
  const ackedBeforeDrop = writer.ackedSoFar();
  await drop();
  await sleep(2000);
  const result = await writer.stop();
  expect(result.errors).toBe(0);
  return { pointMs, ackedBeforeDrop, acks: writer.acks() };
}

/** The GTID of the DROP TABLE in the archive, as binlog-find.sh in the archiver's pod finds it (waited for). */
export async function dropGtidFound(archiver: Workload): Promise<string> {
  const found = async () => (await archiver.exec(0, ['bash', '/opt/mariadb-backup/binlog-find.sh', '--grep', 'DROP TABLE'])).output;
  await waitFor('the DROP TABLE in the archive', async () => / DROP TABLE /i.test(await found()), 120_000);
  const out = await found();
  console.log(`binlog-find.sh --grep 'DROP TABLE': ${out.trim()}`);
  return /^(0-\d+-\d+) \S+ DROP TABLE/im.exec(out)![1];
}
