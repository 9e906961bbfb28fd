#!/usr/bin/env node
// The `ses-relay` CLI entry: thin, everything is in lib/cli.
import { processIo } from '../lib/cli/io';
import { runCli } from '../lib/cli/program';

runCli(process.argv.slice(2), processIo()).then((code) => {
  process.exitCode = code;
});
