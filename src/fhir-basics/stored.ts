// Reading a stored record's JSON text as a resource: the one place that parses it.

/** The resource a stored record holds, or undefined when it holds none (a deletion). */
export function storedResource<T = Record<string, unknown>>(record: { json?: string | undefined }): T | undefined {
  return record.json === undefined ? undefined : JSON.parse(record.json) as T;
}
