// The instance program (the files of ./instance) as the one unit instances receive: a gzip'd tar,
// byte-for-byte the same for the same files, so a CDK asset of it keeps its hash. Pure: reads this
// package's own files, no AWS calls and no CDK.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** Where the files of the instance program are, in this package. */
const PROGRAM_DIR = join(__dirname, 'instance');

/** Where instances install the program. */
export const PROGRAM_PATH = '/usr/local/lib/ses-relay';

/** The boot entry, linked where the generated user data of earlier releases installed the script. */
export const INSTALLED_SCRIPT_PATH = '/usr/local/sbin/ses-relay-bootstrap';

/** What drain.sh writes first: the relay is being terminated and never serves again (see boot.sh). */
export const DRAINING_PATH = '/run/ses-relay/draining';

/** The settings file the generated stub writes and every job of the program reads. */
export const SETTINGS_PATH = '/etc/ses-relay/settings';

/** One ustar header block (POSIX.1-1988), for a regular file owned by root. */
function tarHeader(name: string, size: number): Buffer {
  const block = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => block.write(value, offset, length, 'ascii');
  const octal = (offset: number, length: number, value: number) =>
    field(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 0);
  field(148, 8, '        ');
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const byte of block) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/**
 * The jobs only a relay of an Auto Scaling group runs (the drain, the health probe that takes a
 * relay out of its group, the metadata client, the record of what is left): left out of a
 * self-contained script for a host on its own, which could not use them, to keep it under 16 KB.
 */
export const GROUP_ONLY_FILES = ['drain.sh', 'health.sh', 'imds.py', 'probe.py', 'queue_left.py'];

/** The configuration set's milter: left out of a self-contained script that names no configuration set. */
export const CONFIGURATION_SET_FILE = 'configuration_set.py';

// The shell files hold no text whose indentation matters (no heredocs, no multi-line strings with
// indented lines; the Python is in .py files), so their code goes without indentation too. The
// Python (formatted by Ruff: four spaces a level, no multi-line string but the leading docstring)
// keeps one space a level, and loses a comment after code with no quote before it. With
// `directives`, a shellcheck directive stays (without its reason, a comment after it): for the
// tests, which lint what the bundle carries; the bundle itself carries none (comments to bash).
export function codeOnly(name: string, text: string, directives = false): string {
  const python = name.endsWith('.py');
  const body = python ? text.replace(/^"""[\s\S]*?"""\n/, '') : text;
  const dropped = directives ? /^\s*#(?!\s*shellcheck)/ : /^\s*#/;
  const shorter = (line: string) => {
    if (!python) return line.trimStart().replace(/^(# shellcheck [^#]*?) +#.*$/, '$1');
    const indent = line.length - line.trimStart().length;
    const code = /^[^'"#]*?\S {2}# /.test(line) ? line.replace(/ {2}# .*$/, '') : line;
    return ' '.repeat(Math.floor(indent / 4) + (indent % 4)) + code.trimStart();
  };
  return `${body
    .split('\n')
    .filter((line) => !dropped.test(line) && line.trim() !== '')
    .map(shorter)
    .join('\n')}\n`;
}

/**
 * The program's file names (its shell and Python files: not what Python may leave there, such as
 * __pycache__), in order; without GROUP_ONLY_FILES unless `group`, without CONFIGURATION_SET_FILE
 * unless `configurationSet`.
 */
export function programFiles(group = true, configurationSet = true): string[] {
  return readdirSync(PROGRAM_DIR)
    .filter((name) => /^[a-z_]+\.(sh|py)$/.test(name))
    .sort()
    .filter((name) => group || !GROUP_ONLY_FILES.includes(name))
    .filter((name) => configurationSet || name !== CONFIGURATION_SET_FILE);
}

let archive: Buffer | undefined;

/**
 * The program's files as they are, comments included, in name order, as a gzip'd tar: what
 * SesRelay ships (an S3 asset, any size). Cached: the files do not change.
 */
export function programArchive(): Buffer {
  if (archive === undefined) {
    const parts: Buffer[] = [];
    for (const name of programFiles()) {
      const data = readFileSync(join(PROGRAM_DIR, name));
      parts.push(tarHeader(name, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
    parts.push(Buffer.alloc(1024));
    archive = gzipSync(Buffer.concat(parts), { level: 9 });
  }
  return archive;
}

/** The archive's SHA-256, hex: instances check it before they extract. */
export function programSha256(): string {
  return createHash('sha256').update(programArchive()).digest('hex');
}

/** The line that ends each file in a program bundle. */
export const BUNDLE_EOF = 'SES_RELAY_FILE_EOF';

/**
 * What the CLI's self-contained script carries, to stay under EC2's 16 KB of user data: the
 * program's code (without whole-line comments, shellcheck's directives too, blank lines, Python
 * docstrings and comments after code, shell indentation, and with one space a level of Python
 * indentation), without the group-only jobs unless `group` nor the configuration set's milter
 * unless `configurationSet`, as bash that writes each file into the
 * current directory (a here-document each: a tar's headers would cost 0.4 KB), the Python files
 * first (like with like: gzip's 32 KB window finds more of each). The script compresses it.
 */
export function programBundle(group: boolean, configurationSet: boolean): string {
  const files = programFiles(group, configurationSet);
  const ordered = [...files.filter((name) => name.endsWith('.py')), ...files.filter((name) => name.endsWith('.sh'))];
  return ordered
    .map((name) => {
      const code = codeOnly(name, readFileSync(join(PROGRAM_DIR, name), 'utf8'));
      if (code.split('\n').includes(BUNDLE_EOF)) throw new Error(`${name} has a line ${BUNDLE_EOF}`);
      return `cat >${name} <<'${BUNDLE_EOF}'\n${code}${BUNDLE_EOF}\n`;
    })
    .join('');
}
