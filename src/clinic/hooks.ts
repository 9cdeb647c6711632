// The clinic workflow's write hooks, in the order they run for one write.
import type { WriteHook } from '../fhir/workflow/hooks.js';
import { schedulingHook, slotGuardHook } from './scheduling.js';
import { checkInHook, finishHook } from './visit.js';

export const clinicHooks: readonly WriteHook[] = [schedulingHook, slotGuardHook, checkInHook, finishHook];
