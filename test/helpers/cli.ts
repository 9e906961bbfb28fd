// Runs the ses-relay CLI in-process with captured streams, as a person would see them.
import type { CliIo } from '../../lib/cli/io';
import { runCli } from '../../lib/cli/program';

export async function runCaptured(args: string[], stdin = '', tty = false) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    readStdin: async () => stdin,
    stdinIsTty: tty,
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}
