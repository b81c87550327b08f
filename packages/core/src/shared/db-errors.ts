/** Postgres reports a unique-constraint violation as SQLSTATE 23505, whichever driver carries it. */
export function isUniqueViolation(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 3; depth++) {
    if ((current as { code?: unknown }).code === '23505') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The longest error message that reaches a log; a database's messages may quote a value. */
export const MAX_LOGGED_MESSAGE = 300;

export interface DescribedError {
  type: string;
  message: string;
  /** SQLSTATE for a database error, or a system code such as ECONNREFUSED. */
  code?: string;
  constraint?: string;
  /** Stack frames only: the first line of `stack` repeats the message, which may be huge. */
  stack?: string;
}

/**
 * What may be logged of an error. Drivers attach the statement and its parameters to their
 * errors (postgres.js: `query`, `parameters`; PGlite: `query`, `params`), and drizzle-orm's
 * DrizzleQueryError repeats both in its message, so a failed insert would put message bodies,
 * headers and signing secrets in the log. Only the type, a code, a constraint name and a capped
 * message are kept, taken from the driver's error where there is one in the cause chain.
 */
export function describeError(error: unknown): DescribedError {
  if (!(error instanceof Error)) {
    return { type: typeof error, message: capMessage(typeof error === 'string' ? error : 'a non-Error value') };
  }
  const source = findDriverError(error);
  const described: DescribedError = {
    type: typeName(error),
    message: capMessage(messageOf(source ?? error)),
  };
  const code = (source as { code?: unknown } | undefined)?.code ?? (error as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') described.code = String(code).slice(0, 64);
  const constraint = source ? constraintOf(source) : undefined;
  if (constraint) described.constraint = constraint.slice(0, 128);
  const frames = stackFrames(error.stack);
  if (frames) described.stack = frames;
  return described;
}

function findDriverError(error: Error): Error | undefined {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && !isQueryWrapper(current)) return current;
    current = (current as { cause?: unknown }).cause ?? (current as { originalError?: unknown }).originalError;
  }
  return undefined;
}

/** drizzle-orm's wrapper: its message is `Failed query: <sql>\nparams: <every parameter>`. */
function isQueryWrapper(error: Error): boolean {
  return typeName(error) === 'DrizzleQueryError' || error.message.startsWith('Failed query: ');
}

/** drizzle-orm's errors leave `name` as plain "Error"; their class says what they are. */
function typeName(error: Error): string {
  const name = error.name && error.name !== 'Error' ? error.name : error.constructor?.name;
  return (name || 'Error').slice(0, 64);
}

function messageOf(error: Error): string {
  if (!isQueryWrapper(error)) return error.message;
  const cause = (error as { cause?: unknown }).cause ?? (error as { originalError?: unknown }).originalError;
  return cause instanceof Error && !isQueryWrapper(cause) ? cause.message : 'a database statement failed';
}

function constraintOf(error: Error): string | undefined {
  const named = error as { constraint?: unknown; constraint_name?: unknown };
  const value = named.constraint ?? named.constraint_name;
  return typeof value === 'string' && value ? value : undefined;
}

function capMessage(message: string): string {
  return message.length > MAX_LOGGED_MESSAGE ? `${message.slice(0, MAX_LOGGED_MESSAGE)}…` : message;
}

function stackFrames(stack: string | undefined): string | undefined {
  if (!stack) return undefined;
  // Only the frame lines, without reading a huge first line more than once.
  const start = stack.indexOf('\n    at ');
  return start === -1 ? undefined : stack.slice(start + 1, start + 1 + 4000);
}

/**
 * A message for a person at a terminal: an error's own message, unless a database statement is
 * behind it, in which case only the database's capped message (never the statement's values).
 */
export function describeErrorForPeople(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    const carriesStatement = isQueryWrapper(current) || 'query' in current || 'parameters' in current;
    if (carriesStatement) return describeError(error).message;
    current = (current as { cause?: unknown }).cause;
  }
  return error.message;
}

/** The constraint a database error names (postgres.js: constraint_name; PGlite: constraint), looking through causes. */
export function violatedConstraint(error: unknown): string | null {
  let current: unknown = error;
  for (let depth = 0; current && depth < 3; depth++) {
    const named =
      (current as { constraint_name?: unknown; constraint?: unknown }).constraint_name ??
      (current as { constraint?: unknown }).constraint;
    if (typeof named === 'string') return named;
    current = (current as { cause?: unknown }).cause;
  }
  return null;
}
