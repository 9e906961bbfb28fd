// Build step (run by `npm run build`): copies the instance program (lib/bootstrap/instance, shell and
// Python files jsii does not compile) next to the compiled generator in dist/, which reads it from
// beside its own file.
import { cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
cpSync(join(root, 'lib/bootstrap/instance'), join(root, 'dist/lib/bootstrap/instance'), { recursive: true });
