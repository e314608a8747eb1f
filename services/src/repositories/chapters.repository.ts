import { Injectable } from '@nestjs/common';
import { Database } from '../db/database';

/** chapters: each episode's projected chapters (chapters/). */
@Injectable()
export class ChapterRepository {
  constructor(private readonly database: Database) {}
}
