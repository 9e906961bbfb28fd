#!/usr/bin/env bash
# Runs the integration test (test/integ/integ.mail-relay.ts) on a real AWS account with this
# repository's CDK CLI, as integ-runner would: deploys the relay stack and the assertion stack (the
# assertions run during that deployment and fail it when they fail), then destroys both whatever
# happened, and exits with the deployment's status. README "Integration tests on a real account".
# Needs AWS credentials (AWS_PROFILE or the usual variables), AWS_REGION, and the identity:
# SES_RELAY_INTEG_DOMAIN with SES_RELAY_INTEG_HOSTED_ZONE_ID, or SES_RELAY_INTEG_EMAIL.
set -uo pipefail
cd "$(dirname "$0")/.." || exit

if [ -z "${SES_RELAY_INTEG_EMAIL:-}" ] && { [ -z "${SES_RELAY_INTEG_DOMAIN:-}" ] || [ -z "${SES_RELAY_INTEG_HOSTED_ZONE_ID:-}" ]; }; then
  echo 'integ: set SES_RELAY_INTEG_DOMAIN and SES_RELAY_INTEG_HOSTED_ZONE_ID, or SES_RELAY_INTEG_EMAIL' >&2
  exit 2
fi
if [ -z "${AWS_REGION:-}" ]; then
  echo 'integ: set AWS_REGION to the SES region to test (e.g. eu-west-1)' >&2
  exit 2
fi

app='node --import tsx test/integ/integ.mail-relay.ts'
out=cdk.out/integ
npx --no-install cdk deploy --app "$app" --output "$out" --all --require-approval never --no-rollback \
  --outputs-file "$out/outputs.json"
status=$?
npx --no-install cdk destroy --app "$app" --output "$out" --all --force || {
  echo 'integ: destroy failed: delete the stacks SesRelayIntegAssertions and SesRelayInteg by hand' >&2
  status=1
}
if [ "$status" -eq 0 ]; then echo 'integ: passed (the delivery event arrived)'; else echo 'integ: FAILED' >&2; fi
exit "$status"
