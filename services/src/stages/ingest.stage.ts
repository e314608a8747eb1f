import type { Stage } from '../pipeline/stage';

// Placeholder until audio download lands.
export function createIngestStage(): Stage {
  return {
    name: 'ingest',
    needs: [],
    plan: () => ({ configured: false, reason: 'ingest stage not implemented yet' }),
    run: () => Promise.reject(new Error('ingest stage not implemented')),
  };
}
