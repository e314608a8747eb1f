import { Controller } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Reads } from '../access';
import { ExportService } from './export.service';

@ApiTags('export')
@Reads()
@Controller('export')
export class ExportController {
  constructor(private readonly service: ExportService) {}
}
