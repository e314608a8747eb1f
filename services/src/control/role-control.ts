import type { Logger } from '../core/logger';
import type { WorkerHost } from '../queue/worker-host';
import type { ControlMessage } from './control-bus';

/**
 * What one role process does with a control message: `role` is its name (`worker-io`, `worker`…),
 * `workers` its WorkerHost (none in the scheduler), `onRestart` main.ts's graceful stop and exit.
 */
export function roleControlHandler(deps: { role: string; workers: WorkerHost | null; log: Logger; onRestart?: (reason: string) => void; onSettingsChanged?: () => void | Promise<void> }) {
  return (m: ControlMessage): void => {
    switch (m.type) {
      case 'restart-role':
        if (m.role !== deps.role) return;
        if (!deps.onRestart) return deps.log.warn({ reason: m.reason }, 'restart requested over the control channel, but this process cannot restart itself');
        deps.onRestart(m.reason ?? 'restart requested by an admin');
        return;
      case 'set-concurrency':
        deps.workers?.setConcurrency(m.queue, m.concurrency);
        return;
      case 'cancel-job':
        deps.workers?.cancel(m.queue, m.jobId);
        return;
      case 'settings-changed':
        void deps.onSettingsChanged?.();
        return;
    }
  };
}
