import { builder } from '../../builder.ts';
import {
  ConflictError,
  type DomainError,
  ForbiddenError,
  InvalidCredentialsError,
  NotFoundError,
  RateLimitedError,
  ValidationError,
} from '../../errors.ts';

export const ErrorInterface = builder.interfaceRef<DomainError>('Error').implement({
  description: 'A failure the caller can act on.',
  fields: (t) => ({ message: t.exposeString('message') }),
});

const simpleErrors = [
  [ForbiddenError, 'ForbiddenError', 'Your credentials do not allow this.'],
  [NotFoundError, 'NotFoundError', 'Nothing with that id exists, or you may not see it.'],
  [ConflictError, 'ConflictError', 'The change conflicts with what is stored (a taken name, the last admin).'],
  [InvalidCredentialsError, 'InvalidCredentialsError', 'The username or password is wrong.'],
] as const;

for (const [cls, name, description] of simpleErrors) {
  builder.objectType(cls, { name, description, interfaces: [ErrorInterface], fields: () => ({}) });
}

const FieldProblem = builder
  .objectRef<{ path: string; message: string }>('FieldProblem')
  .implement({ fields: (t) => ({ path: t.exposeString('path'), message: t.exposeString('message') }) });

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'The input is not valid; `fields` says what to change.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ fields: t.field({ type: [FieldProblem], resolve: (e) => e.fields }) }),
});

builder.objectType(RateLimitedError, {
  name: 'RateLimitedError',
  description: 'Too many attempts; try again after `retryAfterSeconds`.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ retryAfterSeconds: t.exposeInt('retryAfterSeconds') }),
});

/** The errors any mutation acting on stored data may report. */
export const commonErrors = [ForbiddenError, NotFoundError, ConflictError, ValidationError];
