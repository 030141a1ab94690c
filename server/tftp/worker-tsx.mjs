// Starts worker.ts under tsx. Node 20 does not apply `--import tsx` to worker
// threads, so the worker registers tsx's hooks itself before loading TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
