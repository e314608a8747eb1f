/**
 * A request path as telemetry may keep it: the secret of a private re-feed URL
 * (`/api/refeed/<token>/…`, api/refeed/) replaced, since the token is the whole credential.
 * Metrics already use route templates (`/api/refeed/:token/feed.xml`); traces record the path.
 */
export function redactSecretPath(path: string): string {
  return path.replace(/^(\/api\/refeed\/)(?!rotate(?:[/?]|$))[^/?#]+/i, '$1[redacted]');
}
