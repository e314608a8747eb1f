import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { ControlPlane } from '../control/control-plane';
import { Database } from '../db/database';
import { DatabaseModule } from '../db/database.module';
import type { HealthModel } from '../telemetry/health';
import { AdminController, JobsController } from './admin/admin.controller';
import { AdminAuditInterceptor } from './admin/audit.interceptor';
import { ControlActionsController } from './admin/control-actions.controller';
import { IncidentsController } from './agent/incidents.controller';
import { IncidentsService } from './agent/incidents.service';
import { ControlService } from './admin/control.service';
import { JobsService } from './admin/jobs.service';
import { ApiKeyGuard } from './auth.guard';
import { ApiContext } from './context';
import { EpisodeMediaService } from './episodes/episode-media.service';
import { EpisodesController } from './episodes/episodes.controller';
import { EpisodesService } from './episodes/episodes.service';
import { ApiExceptionFilter } from './errors';
import { EventHub } from './events/event-hub';
import { EventsController } from './events/events.controller';
import { FeedsController, SubscriptionsController } from './feeds/feeds.controller';
import { FeedsService } from './feeds/feeds.service';
import { API_HEALTH, HealthController } from './health/health.controller';
import { SearchController } from './search/search.controller';
import { ApiSearchService } from './search/search.service';
import { SessionController } from './session/session.controller';
import { DigestsController } from './digests/digests.controller';
import { DigestsService } from './digests/digests.service';
import { SavedSearchesController } from './saved-searches/saved-searches.controller';
import { SavedSearchesService } from './saved-searches/saved-searches.service';
import { RefeedController } from './refeed/refeed.controller';
import { RefeedService } from './refeed/refeed.service';
import { ExportController } from './export/export.controller';
import { ExportService } from './export/export.service';
import { PlaybackController } from './playback/playback.controller';
import { PlaybackService } from './playback/playback.service';

@Module({})
export class ApiModule {
  /** Everything of one api process; the database, context, hub, search and health are built by bootstrapApi. */
  static forRoot(deps: { database: Database; repositories?: readonly object[]; ctx: ApiContext; hub: EventHub; search: ApiSearchService; health: HealthModel; resources: object; controlPlane: ControlPlane }): DynamicModule {
    return {
      module: ApiModule,
      imports: [DatabaseModule.forRoot(deps.database, deps.repositories)],
      controllers: [HealthController, FeedsController, SubscriptionsController, EpisodesController, SearchController, JobsController, AdminController, ControlActionsController, IncidentsController, EventsController, SessionController, DigestsController, SavedSearchesController, RefeedController, ExportController, PlaybackController],
      providers: [
        { provide: ApiContext, useValue: deps.ctx },
        { provide: EventHub, useValue: deps.hub },
        { provide: ApiSearchService, useValue: deps.search },
        { provide: API_HEALTH, useValue: deps.health },
        { provide: ControlPlane, useValue: deps.controlPlane },
        { provide: 'API_RESOURCES', useValue: deps.resources },
        FeedsService,
        EpisodesService,
        EpisodeMediaService,
        JobsService,
        ControlService,
        IncidentsService,
        DigestsService,
        SavedSearchesService,
        RefeedService,
        ExportService,
        PlaybackService,
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_INTERCEPTOR, useClass: AdminAuditInterceptor },
        { provide: APP_FILTER, useValue: new ApiExceptionFilter(deps.ctx.log) },
      ],
    };
  }
}
