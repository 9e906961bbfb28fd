// Renders the Postfix bootstrap: a bash script that installs the instance program (./instance) with
// its settings and runs its boot entry, or the same script inside a #cloud-config document. The
// program travels inside the script (the CLI's `render`, self-contained for people without CDK)
// or is fetched at boot from S3 (SesRelay, whose user data stays small). Pure text in, text out.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BootstrapFormat } from './options';
import {
  DRAINING_PATH,
  INSTALLED_SCRIPT_PATH,
  PROGRAM_PATH,
  programBundle,
  programSha256,
  SETTINGS_PATH,
} from './program';
import type { ResolvedBootstrapOptions } from './resolve';

/** Where the cloud-config variant writes the script before running it. */
export const CLOUD_CONFIG_SCRIPT_PATH = '/var/lib/cloud/ses-relay-install.sh';

/** EC2 accepts at most 16 KB of user data (before base64). */
export const USER_DATA_LIMIT = 16384;

// Values are checked by resolveBootstrapOptions (or SesRelay); quoting is a second line of defence.
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The settings file: one shell assignment per validated value; nothing secret. */
export function renderSettings(o: ResolvedBootstrapOptions): string {
  const vars: [string, string][] = [
    ['SES_REGION', o.smtpRegion],
    ['SES_HOST', o.smtpEndpoint],
    ['SES_PORT', String(o.smtpPort)],
    ['SES_TLS', o.tlsMode],
    ['SECRET_ID', o.secretId],
    ['SECRET_REGION', o.secretRegion],
    ['RELAY_NETWORKS', o.relayNetworks.join(' ')],
    ['PEER_NETWORKS', o.peerNetworks.join(' ')],
    ['CONFIGURATION_SET_NAME', o.configurationSetName],
    ['MAX_SEND_RATE', String(o.maxSendRate)],
    ['RELAY_COUNT', String(o.relayCount)],
    ['LIFECYCLE_HOOK', o.lifecycleHook],
    ['SIGNAL_RESOURCE', o.signalResource],
  ];
  return `${vars.map(([k, v]) => `${k}=${shellQuote(v)}`).join('\n')}\n`;
}

/**
 * Shell lines that install the program and run it: `install` writes the program into the new
 * program folder (there, empty), through the temporary file "$archive" when `archive`. Written for
 * `set -euo pipefail`.
 */
export function renderInstaller(o: ResolvedBootstrapOptions, install: string[], archive: boolean): string[] {
  const settings = renderSettings(o);
  const eof = 'SES_RELAY_SETTINGS_EOF';
  return [
    // A relay its group is terminating stays as it is: no new settings or program under its drain.
    `if [ -f ${DRAINING_PATH} ]; then echo 'ses-relay: this relay is draining (its group is terminating it): left out of service, nothing changed' >&2; exit 0; fi`,
    'umask 022',
    // A half-done earlier install leaves nothing behind that this one would mix with.
    `rm -rf ${PROGRAM_PATH}.new`,
    `mkdir -p ${SETTINGS_PATH.replace(/\/[^/]+$/, '')} ${PROGRAM_PATH}.new`,
    `cat >${SETTINGS_PATH} <<'${eof}'\n${settings}${eof}`,
    ...(archive ? ['archive=$(mktemp)'] : []),
    ...install,
    `rm -rf ${archive ? '"$archive" ' : ''}${PROGRAM_PATH} && mv ${PROGRAM_PATH}.new ${PROGRAM_PATH}`,
    `ln -sf ${PROGRAM_PATH}/boot.sh ${INSTALLED_SCRIPT_PATH}`,
    `bash ${PROGRAM_PATH}/boot.sh`,
  ];
}

/** Where an instance fetches the program from (values may be stand-ins replaced by CDK tokens). */
export interface ProgramLocation {
  readonly bucket: string;
  readonly key: string;
  /** The bucket's region. */
  readonly region: string;
}

/**
 * The installer for user data that fetches the program from S3 with the instance role (the AWS
 * CLI installed first where missing: packages.sh, carried verbatim) and checks its SHA-256 before
 * extracting it. In a subshell, so that its `set -e` and `umask` leave the commands around it alone.
 */
export function renderS3Installer(o: ResolvedBootstrapOptions, from: ProgramLocation): string {
  const packages = readFileSync(join(__dirname, 'instance', 'packages.sh'), 'utf8');
  const install = [
    'ensure_aws_cli',
    `aws s3 cp "s3://${from.bucket}/${from.key}" "$archive" --region ${from.region} --only-show-errors`,
    `echo "${programSha256()}  $archive" | sha256sum -c --quiet`,
    `tar -xzf "$archive" -C ${PROGRAM_PATH}.new --no-same-owner`,
  ];
  return ['(', 'set -euo pipefail', packages.trimEnd(), ...renderInstaller(o, install, true), ')'].join('\n');
}

/**
 * The self-contained installer, compressed (gzip, base64): the settings, the program (its code
 * without comments, the group-only jobs only for a relay of a group, the configuration set's milter
 * only with a configuration set, to stay under EC2's 16 KB;
 * SesRelay's instances get it whole, comments included, from S3) and the lines installing them.
 */
function compressedInstaller(resolved: ResolvedBootstrapOptions): string {
  const group = resolved.lifecycleHook !== '' || resolved.signalResource !== '';
  // The program's files written in the new program folder (no archive to fetch).
  const bundle = programBundle(group, resolved.configurationSetName !== '');
  const install = [`cd ${PROGRAM_PATH}.new`, bundle.trimEnd(), 'cd /'];
  const installer = ['#!/bin/bash', 'set -euo pipefail', ...renderInstaller(resolved, install, false), ''].join('\n');
  return gzipSync(installer, { level: 9 }).toString('base64');
}

/**
 * Renders the bash script, carrying the program (self-contained): it writes the compressed
 * installer to a temporary file and runs it.
 */
export function renderScript(resolved: ResolvedBootstrapOptions): string {
  const eof = 'SES_RELAY_PROGRAM_EOF';
  // In lines of 4 KB (base64 -d takes any length): lines of 76 would add 1.3 % to the 16 KB.
  const lines = compressedInstaller(resolved)
    .replace(/.{4096}/g, '$&\n')
    .replace(/\n$/, '');
  return [
    '#!/bin/bash',
    '# ses-relay: configures Postfix to relay mail through Amazon SES. Run as root.',
    'set -euo pipefail',
    'installer=$(mktemp)',
    `trap 'rm -f "$installer"' EXIT`,
    `base64 -d <<'${eof}' | gzip -dc >"$installer"\n${lines}\n${eof}`,
    'bash "$installer"',
    '',
  ].join('\n');
}

/** Renders the bootstrap in the given format (default: shell). */
export function renderBootstrap(
  resolved: ResolvedBootstrapOptions,
  format: BootstrapFormat = BootstrapFormat.SHELL,
): string {
  if (format === BootstrapFormat.SHELL) return renderScript(resolved);
  // The installer itself, as cloud-init writes files: compressed (gz+b64), run once.
  const doc = {
    write_files: [
      {
        path: CLOUD_CONFIG_SCRIPT_PATH,
        owner: 'root:root',
        permissions: '0700',
        encoding: 'gz+b64',
        content: compressedInstaller(resolved),
      },
    ],
    runcmd: [[CLOUD_CONFIG_SCRIPT_PATH]],
  };
  // As JSON, which is YAML too: cloud-init reads it, and the package needs no YAML writer at run
  // time. On one line: the indentation would cost user data.
  return `#cloud-config\n${JSON.stringify(doc)}\n`;
}
