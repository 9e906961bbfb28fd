// The licence texts of the third-party packages an esbuild bundle carries (commander, the AWS SDK,
// ...), written beside the bundle: their licences (MIT, Apache-2.0) ask that their notices travel
// with copies of their code.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes `${outfile}.LICENSES.txt` from the bundle's metafile (esbuild's `metafile: true`). */
export function writeLicenses(root, metafile, outfile) {
  const packages = new Map();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (!m) continue;
    const dir = join(root, input.slice(0, m.index + m[0].length));
    if (packages.has(dir)) continue;
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const files = readdirSync(dir);
    const read = (pattern) => {
      const file = files.find((f) => pattern.test(f));
      return file && existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8').trim() : undefined;
    };
    const licence = read(/^(licen[cs]e|copying)(\.|$)/i);
    const notice = read(/^notice(\.|$)/i);
    packages.set(dir, {
      name: `${manifest.name}@${manifest.version}`,
      license: manifest.license ?? 'see the text',
      text: licence === undefined ? undefined : notice === undefined ? licence : `${licence}\n\n${notice}`,
    });
  }
  // A package without a licence file of its own takes the text of another with the same licence.
  for (const p of packages.values()) {
    p.text ??=
      [...packages.values()].find((o) => o.text !== undefined && o.license === p.license)?.text ??
      `(${p.license}; the package carries no licence text)`;
  }
  // Packages with the same text (the AWS SDK's many modules) share one copy of it.
  const byText = new Map();
  for (const p of [...packages.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    byText.set(p.text, [...(byText.get(p.text) ?? []), `${p.name} (${p.license})`]);
  }
  const text = [...byText]
    .map(([licence, names]) => `${names.join('\n')}\n\n${licence}\n`)
    .join(`\n${'-'.repeat(72)}\n\n`);
  writeFileSync(`${outfile}.LICENSES.txt`, `Third-party code bundled in ${outfile.split('/').pop()}:\n\n${text}`);
}
