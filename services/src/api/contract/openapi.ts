import { applyDecorators, type INestApplication } from '@nestjs/common';
import { ApiQuery, DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { z } from 'zod';
import { components } from './responses';

/** @nestjs/swagger does not export its SchemaObject type (package exports); take it from a decorator's options. */
type SchemaObject = Extract<NonNullable<Parameters<typeof ApiQuery>[0]>, { schema?: unknown }>['schema'] & object;

/** z.int() states the safe-integer range; in the document that is noise. */
function dropSafeIntegerRange({ jsonSchema: j }: { jsonSchema: Record<string, unknown> }): void {
  if (j.type === 'integer' && j.minimum === Number.MIN_SAFE_INTEGER && j.maximum === Number.MAX_SAFE_INTEGER) {
    delete j.minimum;
    delete j.maximum;
  }
}

/**
 * The OpenAPI 3.0 schema of a contract schema (inline, so the document reads without $ref hops):
 * `output` for answers, `input` for what a request may send (before defaults and coercion).
 */
export function openApiSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): SchemaObject {
  return z.toJSONSchema(schema, { target: 'openapi-3.0', io, override: dropSafeIntegerRange }) as SchemaObject;
}

/** Every route is under /api but these (bootstrapApi's global prefix). */
export const API_PREFIX = { prefix: 'api', exclude: ['healthz', 'metrics', 'api/health'] } as const;

/** One @ApiQuery per field of a query schema (name, required, type and limits from the schema). */
export function ApiQueryOf(schema: z.ZodObject): MethodDecorator {
  const json = openApiSchema(schema, 'input') as { properties?: Record<string, SchemaObject>; required?: string[] };
  return applyDecorators(
    ...Object.entries(json.properties ?? {}).map(([name, s]) => ApiQuery({ name, required: json.required?.includes(name) ?? false, schema: s })),
  );
}

/** The API's OpenAPI document (served at /api/docs; web/src/api/schema.d.ts is generated from it). */
export function apiDocument(app: INestApplication, version = process.env.PODBRAIN_VERSION || '0.1.0'): OpenAPIObject {
  const doc = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('podbrain API')
      .setDescription('Feeds, episodes, search, jobs and admin of a podbrain deployment (ARCHITECTURE §8). Writes and admin/* need the Bearer key when AUTH_API_KEY is set.')
      .setVersion(version)
      .addBearerAuth()
      .build(),
  );
  // The named types (the viewer imports them by these names), the SSE event among them.
  doc.components = {
    ...doc.components,
    schemas: { ...doc.components?.schemas, ...Object.fromEntries(Object.entries(components).map(([name, s]) => [name, openApiSchema(s)])) },
  };
  return doc;
}
