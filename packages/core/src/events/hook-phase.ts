/**
 * servo-webhooks names an event with the moment its hooks run: `before:adjust` runs the before
 * hooks, which block the event and may cancel it, and `after:adjust` the after hooks, sent in the
 * background. config-webhooks.ts makes a webhook's before: events a `blocking` subscription and its
 * after: events an `async` one; a phase given when publishing reaches only subscriptions of its mode.
 */
export type HookPhase = 'before' | 'after';
export type HookMode = 'async' | 'blocking';

export interface PhasedType {
  /** The event type, without the phase. */
  type: string;
  phase: HookPhase | null;
}

const PHASED = /^(before|after):(.*)$/;

/** A webhook listing both kinds of event becomes `name` (after) and `name before` (config-webhooks.ts). */
export const BEFORE_HOOK_SUFFIX = ' before';

export function splitHookPhase(value: string): PhasedType {
  const match = typeof value === 'string' ? PHASED.exec(value) : null;
  if (!match) return { type: value, phase: null };
  return { type: match[2] ?? '', phase: match[1] === 'before' ? 'before' : 'after' };
}

export function modeOfPhase(phase: HookPhase): HookMode {
  return phase === 'before' ? 'blocking' : 'async';
}

/** How a subscription of this mode is spoken of to a servo user. */
export function describeHookMode(mode: HookMode): string {
  return mode === 'blocking' ? 'a before (blocking) hook' : 'an after (async) hook';
}

/**
 * The names a servo webhook's name may have become for hooks of this phase: its own, and for
 * before: hooks also the suffixed twin (a webhook listing both kinds of event).
 */
export function hookNamesFor(name: string, phase: HookPhase | null): string[] {
  return phase === 'after' || phase === null ? [name] : [name, `${name}${BEFORE_HOOK_SUFFIX}`];
}
