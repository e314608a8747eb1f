import { Injectable } from '@nestjs/common';
import { Database } from '../db/database';

/** saved_searches and saved_search_hits (saved-searches/). */
@Injectable()
export class SavedSearchRepository {
  constructor(private readonly database: Database) {}
}
