import { type DynamicModule, Global, Module, type Provider } from '@nestjs/common';
import { REPOSITORIES } from '../repositories/repositories';
import { Database } from './database';

/**
 * Postgres for a Nest module tree (the api, the worker and scheduler roles): the role's one
 * Database and the repositories on it. Global, so any service or controller injects a
 * repository by its class. `instances`: repositories the role has already built on the same
 * Database (roles/context.ts) are provided as they are instead of a second copy; so is the
 * role's EpisodeEventPublisher (repositories/episode-events.repository.ts).
 */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(database: Database, instances: readonly object[] = []): DynamicModule {
    const built = REPOSITORIES.filter((cls) => !instances.some((i) => i instanceof cls));
    // Instances by their class: the given repositories, and other providers of the same layer (the episode events publisher).
    const given = instances.map((i): Provider => ({ provide: i.constructor, useValue: i }));
    const providers: Provider[] = [{ provide: Database, useValue: database }, ...built, ...given];
    return { module: DatabaseModule, global: true, providers, exports: [Database, ...built, ...instances.map((i) => i.constructor)] };
  }
}
