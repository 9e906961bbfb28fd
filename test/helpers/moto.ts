// moto server (the AWS API emulator) on a free loopback port, from the project-local .venv that
// .ci/run installs. Outside CI a missing .venv skips the emulator suites; in CI it is an error.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const MOTO = join(__dirname, '..', '..', '.venv', 'bin', 'moto_server');
const available = existsSync(MOTO);
if (!available && process.env.CI) throw new Error(`${MOTO} is missing: .ci/run installs moto[server] into .venv`);
if (!available) console.warn(`skipping the moto server suites: ${MOTO} is missing (npm test installs it into .venv)`);

export const describeMoto = available ? describe : describe.skip;

export interface Moto {
  /** The URL to pass as an SDK client's `endpoint` (or as AWS_ENDPOINT_URL). */
  readonly endpoint: string;
  stop(): void;
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Starts moto server and resolves once it answers HTTP. */
export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const proc: ChildProcess = spawn(MOTO, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await fetch(`${endpoint}/moto-api/`);
      break;
    } catch (err) {
      if (i === 100 || proc.exitCode !== null) {
        proc.kill();
        throw new Error(`moto server did not answer on ${endpoint}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { endpoint, stop: () => proc.kill() };
}
