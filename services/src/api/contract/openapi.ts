import { applyDecorators, type INestApplication } from '@nestjs/common';
import { ApiParam, ApiQuery, ApiResponse, DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
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

/** A route handler whose answer (or its promise) is the output of `S`. */
type Answering<S extends z.ZodType> = (...args: never[]) => z.output<S> | Promise<z.output<S>>;

/**
 * The success answer of a route: documents it (the schema, inline) and makes the compiler check
 * that the handler returns that schema's output type, so the document and the code cannot drift
 * (tsc: "Unable to resolve signature of method decorator" = the handler answers something else).
 */
export function ApiAnswer<S extends z.ZodType>(schema: S, opts: { status?: 200 | 201 | 202; description?: string } = {}) {
  const document = ApiResponse({ status: opts.status ?? 200, ...(opts.description ? { description: opts.description } : {}), schema: openApiSchema(schema) });
  return <H extends Answering<S>>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<H>): void => {
    document(target, key, descriptor);
  };
}

/** One @ApiQuery per field of a query schema (name, required, type and limits from the schema). */
export function ApiQueryOf(schema: z.ZodObject): MethodDecorator {
  const json = openApiSchema(schema, 'input') as { properties?: Record<string, SchemaObject>; required?: string[] };
  return applyDecorators(
    ...Object.entries(json.properties ?? {}).map(([name, s]) => ApiQuery({ name, required: json.required?.includes(name) ?? false, schema: s })),
  );
}

/** A path parameter, documented from the schema its handler parses it with. */
export function ApiParamOf(name: string, schema: z.ZodType): MethodDecorator {
  return ApiParam({ name, required: true, schema: openApiSchema(schema, 'input') as Extract<Parameters<typeof ApiParam>[0], { schema?: unknown }>['schema'] });
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
