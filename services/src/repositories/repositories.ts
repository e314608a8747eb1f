import { AuditRepository } from './audit.repository';
import { ChunkRepository } from './chunks.repository';
import { ContentRepository } from './content.repository';
import { EpisodeRepository } from './episodes.repository';
import { FeedRepository } from './feeds.repository';
import { IncidentRepository } from './incidents.repository';
import { SettingsRepository } from './settings.repository';
import { ProjectionRepository } from './projection.repository';
import { StageRunRepository } from './stage-runs.repository';
import { TenantRepository } from './tenants.repository';
import { DigestRepository } from './digests.repository';
import { SavedSearchRepository } from './saved-searches.repository';
import { ChapterRepository } from './chapters.repository';
import { RefeedRepository } from './refeed.repository';
import { PlaybackRepository } from './playback.repository';

/**
 * Every repository DatabaseModule provides (Nest injects them into services, workers and the
 * scheduler). Each takes the Database and nothing else, so a role may also build one by hand.
 */
export const REPOSITORIES = [EpisodeRepository, StageRunRepository, FeedRepository, TenantRepository, ContentRepository, ProjectionRepository, ChunkRepository, AuditRepository, IncidentRepository, SettingsRepository, DigestRepository, SavedSearchRepository, ChapterRepository, RefeedRepository, PlaybackRepository] as const;
