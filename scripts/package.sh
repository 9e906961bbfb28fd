#!/usr/bin/env bash
# `npm run package`: the packages, from a clean build. jsii compiles the library (npm run build, which
# also bundles the handlers and the CLI), then jsii-pacmak writes the npm tarball
# (dist/packages/js/ses-relay@VERSION.jsii.tgz) and the Python wheel and sdist (dist/packages/python/)
# for the targets in package.json's "jsii" section. Arguments go to jsii-pacmak (e.g. --targets python).
set -euo pipefail
cd "$(dirname "$0")/.."
# jsii says on every run that it no longer supports Node.js 20; it builds with it all the same.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
rm -rf dist .jsii
npm run build
# jsii-pacmak packs with `npm pack`, which would run `prepare` (the build) a second time.
npm_config_ignore_scripts=true npx --no-install jsii-pacmak "$@"
ls -l dist/packages/*/*
