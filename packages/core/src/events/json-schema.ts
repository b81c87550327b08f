import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

/** JSON Schema draft 2020-12, with the standard formats (date-time, email, uri, ...). */
const ajv = new Ajv2020({ allErrors: true, strict: false });
(addFormats as unknown as (ajv: Ajv2020) => void)(ajv);

const compiled = new WeakMap<object, ValidateFunction>();

export interface SchemaProblem {
  path: string;
  message: string;
}

/** Why a schema is not a usable JSON Schema, or null when it is. */
export function checkSchema(schema: Record<string, unknown>): string | null {
  try {
    ajv.compile(schema);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The payload's problems against the schema (every one, not just the first); empty when it fits. */
export function validateAgainst(schema: Record<string, unknown>, payload: unknown): SchemaProblem[] {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(payload)) return [];
  return (validate.errors ?? []).map((e: ErrorObject) => ({
    path: e.instancePath || '/',
    message: e.message ?? 'is not valid',
  }));
}
