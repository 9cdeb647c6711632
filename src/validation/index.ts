// The validation entry point used by the engine on every write.
import type { Definitions } from '../definitions/registry.js';
import { checkStructure } from './structure.js';
import type { Issue } from './issue.js';

export { hasErrors, type Issue } from './issue.js';

/** All problems found in `resource`, errors and warnings alike. */
export function validateResource(defs: Definitions, resource: unknown): Issue[] {
  return checkStructure(defs, resource);
}
