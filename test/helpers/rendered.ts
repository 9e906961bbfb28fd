// What a rendered bootstrap runs: the installer (settings, program, the lines installing them) that
// the shell script carries compressed and runs, or that the cloud-config writes (gz+b64) and runs.
import { gunzipSync } from 'node:zlib';

export function installerOf(rendered: string): string {
  if (rendered.startsWith('#cloud-config\n')) {
    const doc = JSON.parse(rendered.slice('#cloud-config\n'.length));
    return gunzipSync(Buffer.from(doc.write_files[0].content, 'base64')).toString('utf8');
  }
  const b64 = rendered.match(
    /\nbase64 -d <<'SES_RELAY_PROGRAM_EOF' \| gzip -dc >"\$installer"\n([\s\S]*?)\nSES_RELAY_PROGRAM_EOF\nbash "\$installer"\n$/,
  )?.[1];
  if (b64 === undefined) throw new Error('the script carries no installer');
  return gunzipSync(Buffer.from(b64, 'base64')).toString('utf8');
}
