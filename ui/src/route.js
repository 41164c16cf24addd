// Hash routes: building '#/...' links and their query strings.

/** A '#/...' href built from path segments, each URI-encoded. */
export function route(...segments) {
  return '#/' + segments.map((s) => encodeURIComponent(String(s))).join('/');
}

/** Append ?k=v&... (skipping empty values) to a hash route. */
export function withQuery(hash, query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v === null || v === undefined || v === '') continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? hash + '?' + s : hash;
}
