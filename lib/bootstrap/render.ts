// Renders the Postfix bootstrap: a bash script, or the same script inside a #cloud-config
// document. Pure text in, text out; no AWS calls and no CDK.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import {
  type BootstrapOptions,
  MAX_CONNECTIONS,
  RATE_PER_CONNECTION,
  type ResolvedBootstrapOptions,
  resolveBootstrapOptions,
} from './options';

/** How the bootstrap is wrapped. */
export enum BootstrapFormat {
  /** A bash script (`#!/bin/bash`), usable as EC2 user data or run by hand as root. */
  SHELL = 'shell',
  /** A `#cloud-config` document that writes the script and runs it once. */
  CLOUD_CONFIG = 'cloud-config',
}

/** Where the cloud-config variant installs the script on the instance. */
export const INSTALLED_SCRIPT_PATH = '/usr/local/sbin/ses-relay-bootstrap';

/** EC2 accepts at most 16 KB of user data (before base64). */
export const USER_DATA_LIMIT = 16384;

const sources = new Map<string, string>();

/**
 * A file of this folder as the script carries it, to stay under EC2's 16 KB: without whole-line
 * comments (shellcheck directives kept), blank lines and a leading docstring; the shell script
 * (heredoc-free and without multi-line strings, by design) also without its indentation.
 */
function source(name: 'relay.sh' | 'pacer.py'): string {
  let text = sources.get(name);
  if (text === undefined) {
    text = readFileSync(join(__dirname, name), 'utf8')
      .replace(/^"""[\s\S]*?"""\n/, '')
      .split('\n')
      .filter((line) => !/^\s*#(?!\s*shellcheck)/.test(line) && line.trim() !== '')
      .map((line) => (name === 'relay.sh' ? line.trimStart() : line))
      .join('\n');
    sources.set(name, text);
  }
  return text;
}

// Values are validated by resolveBootstrapOptions; quoting is a second line of defence.
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The script header: the settings, one shell variable each. */
function settings(o: ResolvedBootstrapOptions): string {
  const vars: [string, string][] = [
    ['SES_REGION', o.region],
    ['SES_HOST', o.endpoint],
    ['SES_PORT', String(o.port)],
    ['SES_TLS', o.tlsMode],
    ['SECRET_ID', o.secretId],
    ['SECRET_REGION', o.secretRegion],
    ['RELAY_NETWORKS', o.relayNetworks.join(' ')],
    ['CONFIGURATION_SET', o.configurationSet],
    ['MAX_SEND_RATE', String(o.maxSendRate)],
    ['RELAYS', String(o.relays)],
    ['PER_CONNECTION', String(RATE_PER_CONNECTION)],
    ['MAX_CONNECTIONS', String(MAX_CONNECTIONS)],
    ['PACER_PY', source('pacer.py')],
  ];
  return vars.map(([k, v]) => `${k}=${shellQuote(v)}`).join('\n');
}

/** Renders the bash script. */
export function renderScript(options: BootstrapOptions): string {
  const resolved = resolveBootstrapOptions(options);
  return [
    '#!/bin/bash',
    '# ses-relay: configures Postfix to relay mail through Amazon SES. Generated; run as root.',
    settings(resolved),
    source('relay.sh'),
    '',
  ].join('\n');
}

/**
 * Shell commands that install the script at INSTALLED_SCRIPT_PATH and run it: for appending to
 * user data that has commands of its own (the script's `set -e` and `umask` stay in its process).
 */
export function renderInstallCommands(options: BootstrapOptions): string[] {
  const script = renderScript(options);
  const eof = 'SES_RELAY_BOOTSTRAP_EOF';
  if (script.includes(eof)) throw new Error(`the script must not contain ${eof}`);
  return [
    `mkdir -p ${INSTALLED_SCRIPT_PATH.replace(/\/[^/]+$/, '')}`,
    `cat > ${INSTALLED_SCRIPT_PATH} <<'${eof}'\n${script}${eof}`,
    `chmod 0700 ${INSTALLED_SCRIPT_PATH}`,
    INSTALLED_SCRIPT_PATH,
  ];
}

/** Renders the bootstrap in the given format (default: shell). */
export function renderBootstrap(options: BootstrapOptions, format: BootstrapFormat = BootstrapFormat.SHELL): string {
  const script = renderScript(options);
  if (format === BootstrapFormat.SHELL) return script;
  // Compressed: the script as YAML text, indented, would not fit in EC2's 16 KB.
  const doc = {
    write_files: [
      {
        path: INSTALLED_SCRIPT_PATH,
        owner: 'root:root',
        permissions: '0700',
        encoding: 'gz+b64',
        content: gzipSync(script).toString('base64'),
      },
    ],
    runcmd: [[INSTALLED_SCRIPT_PATH]],
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}
