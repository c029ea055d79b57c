// The fuzz worker's entry (fuzz/campaign.ts's runIsolated): a worker thread does not inherit the main thread's tsx
// hooks on Node 20, so it registers them itself before loading the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
