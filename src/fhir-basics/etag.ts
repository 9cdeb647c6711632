// ETags as FHIR uses them (R4 http.html#versioning): `W/"3"` or `"3"` carry version 3.

const ETAG = /^\s*(?:W\/)?"([^"]{1,64})"\s*$/;

/** The version an ETag names, or undefined when the text is not an ETag. */
export function etagVersion(text: string): string | undefined {
  if (text.length > 200) return undefined;
  return ETAG.exec(text)?.[1];
}

/** The weak ETag of a version. */
export function etagOf(versionId: string): string {
  return `W/"${versionId}"`;
}
