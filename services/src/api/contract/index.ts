/** The API contract: requests and answers as zod schemas, the OpenAPI document built from them. */
export { schemas } from './requests';
export * as responses from './responses';
export type * from './responses';
export { API_PREFIX, ApiAnswer, ApiParamOf, ApiQueryOf, apiDocument, openApiSchema } from './openapi';
