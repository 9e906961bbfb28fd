// What a CLI command may touch: its output streams and its standard input. Injected so that
// tests run commands in-process and assert what a person would see.

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The whole of standard input. */
  readonly readStdin: () => Promise<string>;
  /** True when standard input is a terminal (where a typed secret would be echoed). */
  readonly stdinIsTty: boolean;
}

/** Error for bad input: its message is shown as is, without a stack trace. */
export class UsageError extends Error {}

/** The process's own streams. */
export function processIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    stdinIsTty: Boolean(process.stdin.isTTY),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk));
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}
