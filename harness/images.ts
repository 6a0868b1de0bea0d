// What each container image ships, so that a harness container sees only its image's programs.
// The harness runs this machine's binaries (there are no images here); without this, a script
// that calls a program its image lacks passes every test and fails in the first real pod.
//
// harness/images/*.programs hold one list per image, derived from the image's published package
// list and build recipe (each file names its sources). A container's PATH is a directory of
// links to this machine's binaries of those names and nothing else. A program the list names
// that this machine lacks is left out: a script calling it fails here although the image has
// it (a false failure, never a false pass); the lists' headers name those.
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'fs';
import { join, resolve } from 'path';
import { which } from './proc';

const IMAGES_DIR = resolve(__dirname, 'images');
/** Directories a program is looked up in on this machine (the official images' PATH). */
const HOST_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The programs of one image. */
export interface ImagePrograms {
  /** The list's file. */
  readonly file: string;
  /** The image references it describes, normalized (see normalizeImage). */
  readonly images: readonly string[];
  /** Program name to its kind: a program of its own, or an applet of busybox (linked to busybox). */
  readonly programs: ReadonlyMap<string, 'program' | 'busybox'>;
}

/** 'docker.io/library/mariadb:10.11.19' and 'mariadb:10.11.19' are one image. */
export function normalizeImage(ref: string): string {
  return ref.replace(/^docker\.io\//, '').replace(/^library\//, '');
}

/** Parses a .programs file: `image REF` lines, then one program per line (`NAME busybox` for an applet); # comments. */
export function parseImagePrograms(file: string, text: string): ImagePrograms {
  const images: string[] = [];
  const programs = new Map<string, 'program' | 'busybox'>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const words = line.split(/\s+/);
    const where = `${file}:${i + 1}`;
    if (words[0] === 'image' && words.length === 2) {
      images.push(normalizeImage(words[1]));
    } else if (/^([A-Za-z0-9_.+-]+|\[|\[\[)$/.test(words[0]) && (words.length === 1 || (words.length === 2 && words[1] === 'busybox'))) {
      programs.set(words[0], words.length === 2 ? 'busybox' : 'program');
    } else {
      throw new Error(`${where}: expected 'image REF', 'NAME' or 'NAME busybox', got ${JSON.stringify(raw)}`);
    }
  }
  if (images.length === 0) throw new Error(`${file}: no 'image REF' line`);
  return { file, images, programs };
}

let loaded: ImagePrograms[] | undefined;

/** Every list in harness/images. */
export function allImagePrograms(): readonly ImagePrograms[] {
  loaded ??= readdirSync(IMAGES_DIR).filter((f) => f.endsWith('.programs')).sort()
    .map((f) => parseImagePrograms(join('harness/images', f), readFileSync(join(IMAGES_DIR, f), 'utf8')));
  return loaded;
}

/** The list of an image, or undefined when the harness has none. */
export function programsOf(image: string): ImagePrograms | undefined {
  const want = normalizeImage(image);
  return allImagePrograms().find((p) => p.images.includes(want));
}

/** This machine's binary for a program name, or undefined. */
function hostBinary(name: string): string | undefined {
  for (const dir of HOST_PATH) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  return undefined;
}

/**
 * Fills `dir` with links to this machine's binaries of the image's programs (`binaries` first:
 * programs this machine has under another name or elsewhere, such as $PROXYSQL_BIN) and returns
 * the programs it could not provide.
 */
export function linkImagePrograms(dir: string, list: ImagePrograms, binaries: Readonly<Record<string, string>> = {}): string[] {
  mkdirSync(dir, { recursive: true });
  const missing: string[] = [];
  for (const [name, kind] of list.programs) {
    // The busybox applets run as the real busybox (Debian's package), named as the applet.
    const target = binaries[name] !== undefined ? resolve(binaries[name]) : kind === 'busybox' ? which('busybox') : hostBinary(name);
    if (target === undefined) {
      missing.push(name);
      continue;
    }
    const link = join(dir, name);
    if (!existsSync(link)) symlinkSync(target, link);
  }
  return missing;
}
