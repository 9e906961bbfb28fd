// Shared template helpers for construct and stack tests: a snapshot form without asset hashes and
// runtime-map noise, and cdk-nag findings collected as data.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type App, type IPolicyValidationPlugin, type Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';

/** The template with asset hashes and bootstrap-version noise replaced, for a stable snapshot. */
export function stableTemplate(stack: Stack): unknown {
  const json = JSON.stringify(Template.fromStack(stack).toJSON());
  const cleaned = json
    .replace(/[0-9a-f]{64}(\.zip|\.json)?/g, 'ASSET_HASH$1')
    .replace(/"BootstrapVersion":\{[^}]*\}/g, '"BootstrapVersion":"removed"');
  const parsed = JSON.parse(cleaned);
  delete parsed.Rules;
  delete parsed.Parameters?.BootstrapVersion;
  // Region-to-runtime maps change with every aws-cdk-lib release.
  for (const key of Object.keys(parsed.Mappings ?? {})) {
    if (/LatestNodeRuntimeMap|Runtime/i.test(key)) delete parsed.Mappings[key];
  }
  return parsed;
}

/**
 * Synthesizes the app with cdk-nag packs (cdk-nag 3 runs as a CDK validation plugin) and returns
 * every unacknowledged finding as "rule @ construct path". Acknowledgments are CDK's
 * `Validations.of(...).acknowledge`, each specific and with its reason.
 */
export function nagFindings(app: App, packs: IPolicyValidationPlugin[]): string[] {
  Validations.of(app).addPlugins(...packs);
  try {
    app.synth();
    return [];
  } catch (err) {
    const report = join(app.outdir, 'validation-report.json');
    if (!existsSync(report)) throw err;
    const parsed = JSON.parse(readFileSync(report, 'utf8')) as {
      pluginReports: { violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
    };
    return parsed.pluginReports.flatMap((r) =>
      r.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} @ ${c.constructPath}`)),
    );
  }
}

/** The custom resource's properties: names only, never a secret. */
export const CREDENTIALS_PROPERTY_KEYS = [
  'Endpoint',
  'OwnsUserKeys',
  'Port',
  'SecretArn',
  'ServiceTimeout',
  'ServiceToken',
  'SmtpRegion',
  'UserName',
];
