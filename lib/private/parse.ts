// Values given as text on the command line (`ses-relay render`) and as CDK context (bin/app.ts):
// the same shapes, read the same way.

/** A comma-separated list, items trimmed, empty ones dropped; undefined stays undefined. */
export function splitList(text: string | undefined): string[] | undefined {
  return text
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** A whole number ("587") or, with `decimal`, also "2.5"; NaN for any other text; undefined stays undefined. */
export function numberFrom(text: string | undefined, decimal = false): number | undefined {
  if (text === undefined) return undefined;
  return (decimal ? /^[0-9]+(\.[0-9]+)?$/ : /^[0-9]+$/).test(text) ? Number(text) : Number.NaN;
}
