/**
 * Content types of static files, by file name extension.
 *
 * @module
 */

// Types as registered with IANA where a registration exists (RFC 9239 for JavaScript, RFC 8081 for fonts,
// RFC 7763 for Markdown, RFC 9512 for YAML); otherwise the type browsers expect. `text/*` types get
// `charset=utf-8` below: without it browsers guess the encoding of text (RFC 6657 §4 defaults some to
// US-ASCII), while the other types here carry their own encoding or none.
const TYPES: ReadonlyMap<string, string> = new Map(
  ([
    ["html", "text/html"],
    ["htm", "text/html"],
    ["xhtml", "application/xhtml+xml"],
    ["css", "text/css"],
    ["js", "text/javascript"],
    ["mjs", "text/javascript"],
    ["cjs", "text/javascript"],
    ["json", "application/json"],
    ["map", "application/json"],
    ["jsonld", "application/ld+json"],
    ["webmanifest", "application/manifest+json"],
    ["txt", "text/plain"],
    ["text", "text/plain"],
    ["md", "text/markdown"],
    ["markdown", "text/markdown"],
    ["csv", "text/csv"],
    ["tsv", "text/tab-separated-values"],
    ["ics", "text/calendar"],
    ["vtt", "text/vtt"],
    ["yaml", "application/yaml"],
    ["yml", "application/yaml"],
    ["xml", "application/xml"],
    ["rss", "application/rss+xml"],
    ["atom", "application/atom+xml"],
    ["svg", "image/svg+xml"],
    ["png", "image/png"],
    ["apng", "image/apng"],
    ["jpg", "image/jpeg"],
    ["jpeg", "image/jpeg"],
    ["gif", "image/gif"],
    ["webp", "image/webp"],
    ["avif", "image/avif"],
    ["bmp", "image/bmp"],
    ["tif", "image/tiff"],
    ["tiff", "image/tiff"],
    ["ico", "image/x-icon"],
    ["wasm", "application/wasm"],
    ["pdf", "application/pdf"],
    ["zip", "application/zip"],
    ["gz", "application/gzip"],
    ["tgz", "application/gzip"],
    ["tar", "application/x-tar"],
    ["7z", "application/x-7z-compressed"],
    ["mp3", "audio/mpeg"],
    ["m4a", "audio/mp4"],
    ["aac", "audio/aac"],
    ["flac", "audio/flac"],
    ["ogg", "audio/ogg"],
    ["oga", "audio/ogg"],
    ["opus", "audio/ogg"],
    ["wav", "audio/wav"],
    ["mp4", "video/mp4"],
    ["m4v", "video/mp4"],
    ["webm", "video/webm"],
    ["ogv", "video/ogg"],
    ["mov", "video/quicktime"],
    ["woff", "font/woff"],
    ["woff2", "font/woff2"],
    ["ttf", "font/ttf"],
    ["otf", "font/otf"],
  ] as const).map((
    [ext, type],
  ) => [ext, type.startsWith("text/") ? type + "; charset=utf-8" : type]),
);

/** The type of a file nobody recognised: browsers download it instead of rendering it (RFC 2046 §4.5.1). */
const FALLBACK = "application/octet-stream";

/**
 * The `Content-Type` for a file, from the extension of its last path segment, case-insensitively:
 * `contentTypeFor("/a/b.HTML")` is `"text/html; charset=utf-8"`. `text/*` types carry `; charset=utf-8`.
 * Never throws.
 *
 * @param path A file name or path; `/` and `\` both separate segments. A name that only starts with a dot
 * (`.env`) has no extension.
 * @returns The type, or `"application/octet-stream"` when the extension is unknown or missing.
 */
export function contentTypeFor(path: string): string {
  let dot = -1;
  for (let i = path.length - 1; i >= 0; i--) {
    const c = path.charCodeAt(i);
    if (c === 47 || c === 92) break; // '/' or '\'
    if (c === 46) { // '.'
      dot = i;
      break;
    }
  }
  // No dot, or a leading dot only (".env").
  if (dot <= 0 || path.charCodeAt(dot - 1) === 47 || path.charCodeAt(dot - 1) === 92) {
    return FALLBACK;
  }
  return TYPES.get(path.substring(dot + 1).toLowerCase()) ?? FALLBACK;
}
