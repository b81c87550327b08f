import { findNul, type TextProblem } from '@switchboard/core';
import {
  type ASTNode,
  BREAK,
  type DocumentNode,
  type ExecutionArgs,
  GraphQLError,
  type GraphQLInputType,
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  isInputObjectType,
  isListType,
  isNonNullType,
  Kind,
  TypeInfo,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * Input fields whose text is stored as bytes (bytea), where a NUL is harmless and may be meant:
 * an event's payload and a job's body are sent on exactly as given.
 */
const STORED_AS_BYTES = new Set(['PublishEventInput.payload', 'JobInput.body']);

interface InputProblem extends TextProblem {
  /** The response path of the field that took the argument. */
  at: string[];
}

/** The first NUL in a value of `type`, by its path under the argument. */
function checkValue(type: GraphQLInputType, value: unknown, path: string): TextProblem | null {
  if (value === null || value === undefined) return null;
  if (isNonNullType(type)) return checkValue(type.ofType, value, path);
  if (isListType(type)) {
    const items = Array.isArray(value) ? value : [value];
    for (const [i, item] of items.entries()) {
      const problem = checkValue(type.ofType, item, `${path}.${i}`);
      if (problem) return problem;
    }
    return null;
  }
  if (isInputObjectType(type)) {
    for (const field of Object.values(type.getFields())) {
      if (STORED_AS_BYTES.has(`${type.name}.${field.name}`)) continue;
      const problem = checkValue(field.type, (value as Record<string, unknown>)[field.name], `${path}.${field.name}`);
      if (problem) return problem;
    }
    return null;
  }
  // String, ID, JSON and other scalars: JSON values are walked whole, keys included.
  return findNul(value, path);
}

/**
 * Every argument of every field the operation selects (inline or through variables, after
 * coercion) against core's text rule. Null when all is well, or when the variables do not even
 * coerce: execution then reports that itself.
 */
export function findInputProblem(
  args: Pick<ExecutionArgs, 'schema' | 'document' | 'variableValues' | 'operationName'>,
) {
  const operation = getOperationAST(args.document, args.operationName);
  if (!operation) return null;
  const variables = getVariableValues(args.schema, operation.variableDefinitions ?? [], args.variableValues ?? {});
  if (variables.errors || !variables.coerced) return null;
  const coerced = variables.coerced;
  const document: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: args.document.definitions.filter((d) => d === operation || d.kind === Kind.FRAGMENT_DEFINITION),
  };
  const typeInfo = new TypeInfo(args.schema);
  const at: string[] = [];
  let problem: InputProblem | null = null;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field: {
        enter(node) {
          at.push(node.alias?.value ?? node.name.value);
          const definition = typeInfo.getFieldDef();
          if (problem || !definition || definition.args.length === 0) return;
          let values: Record<string, unknown>;
          try {
            values = getArgumentValues(definition, node, coerced);
          } catch {
            return; // Not coercible: execution refuses it with its own error.
          }
          for (const arg of definition.args) {
            const found = checkValue(arg.type, values[arg.name], arg.name);
            if (found) {
              problem = { ...found, at: [...at] };
              return;
            }
          }
        },
        leave() {
          at.pop();
        },
      },
    }),
  );
  return problem as InputProblem | null;
}

function refusal(problem: InputProblem) {
  return {
    errors: [
      new GraphQLError(`${problem.path} ${problem.message}`, {
        path: problem.at,
        extensions: { code: 'BAD_USER_INPUT', field: problem.path },
      }),
    ],
  };
}

/**
 * The argument path (`input.expiresAt`) of a value node in the document: scalars that refuse an
 * inline literal (an extreme DateTime) do not know which argument held it.
 */
function argumentPathOf(document: DocumentNode, target: ASTNode): string | null {
  let found: string | null = null;
  if (!target.loc) return null;
  visit(document, {
    enter(node, _key, parent, _path, ancestors) {
      if (found !== null) return BREAK;
      // By position: the validated document may be a cached copy of this one.
      if (node.kind !== target.kind || node.loc?.start !== target.loc?.start) return undefined;
      const names: string[] = [];
      for (const ancestor of [...ancestors, parent]) {
        if (Array.isArray(ancestor) || !('kind' in (ancestor as object))) continue;
        const n = ancestor as ASTNode;
        if (n.kind === Kind.ARGUMENT) names.length = 0;
        if (n.kind === Kind.ARGUMENT || n.kind === Kind.OBJECT_FIELD) names.push(n.name.value);
      }
      found = names.join('.');
      return BREAK;
    },
  });
  return found;
}

/** A scalar's refusal of an inline literal, as BAD_USER_INPUT naming the argument. */
function nameTheArgument(document: DocumentNode, error: GraphQLError): GraphQLError {
  const node = error.nodes?.[0];
  if (error.extensions.code !== 'BAD_USER_INPUT' || !node) return error;
  const field = argumentPathOf(document, node);
  if (!field) return error;
  return new GraphQLError(`${field}: ${error.message}`, {
    nodes: error.nodes,
    extensions: { ...error.extensions, field },
  });
}

/**
 * Refuses, before anything runs, an operation whose arguments hold text Postgres cannot store,
 * with a BAD_USER_INPUT error naming the argument. Queries, mutations and subscriptions alike.
 */
export function useInputGuard(): Plugin {
  return {
    onValidate({ params }) {
      return ({ result, setResult }) => {
        if (result.length > 0) setResult(result.map((error) => nameTheArgument(params.documentAST, error)));
      };
    },
    onExecute({ args, setResultAndStopExecution }) {
      const problem = findInputProblem(args);
      if (problem) setResultAndStopExecution(refusal(problem));
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const problem = findInputProblem(args);
      if (problem) setResultAndStopExecution(refusal(problem));
    },
  };
}
