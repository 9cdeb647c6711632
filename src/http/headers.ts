// HTTP dates for the Last-Modified header. (ETags and Prefer are read by the leaf, src/fhir-basics.)

export function httpDate(instant: string): string {
  return new Date(instant).toUTCString();
}
