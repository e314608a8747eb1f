import { digestJobHandler } from '../digest/digest-job';
import type { EpisodeJobStage } from '../queue/queues';
import type { JobHandler, JobHandlers } from '../queue/worker-host';
import { pollFeedJob } from './poll.jobs';
import type { PipelineDeps, StageJobs } from './stage.jobs';

/**
 * Every job's handler, by job name (queue/queues.ts `JobPayloads`, `JOB_ROUTES`): the record is
 * typed `JobHandlers`, so a job added to the map without a handler here does not compile.
 * WorkerHost (queue/worker-host.ts) runs the handlers of the jobs on its role's queues.
 */
export function jobHandlers(deps: PipelineDeps, stageJobs: StageJobs): JobHandlers {
  const stage =
    <S extends EpisodeJobStage>(name: S): JobHandler<S> =>
    (data, ctx) =>
      stageJobs.runStage(name, data.episodeKey, ctx);
  return {
    poll: (data, ctx) => pollFeedJob(deps, stageJobs, data.feedId, ctx.signal),
    ingest: stage('ingest'),
    transcribe: stage('transcribe'),
    enrich: stage('enrich'),
    index: stage('index'),
    project: stage('project'),
    digest: digestJobHandler(deps),
  };
}
