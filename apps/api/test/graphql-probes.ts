import { randomUUID } from 'node:crypto';
import {
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
} from 'graphql';
import { schema } from '../src/graphql/schema.ts';
import {
  CONTROL_STRING,
  EXTREME_CURSORS,
  EXTREME_DATES,
  type HostileCase,
  LONG_STRING,
  NUL_STRING,
} from './hostile-values.ts';

/**
 * Probes for the GraphQL schema walk: for each leaf of each argument, one operation per hostile
 * value of its kind, with valid placeholders (real rows where an id is wanted) everywhere else.
 */

/** Real rows for the arguments that are not under attack, so that the hostile one gets used. */
export interface Fixtures {
  queueId: string;
  queueName: string;
  clientName: string;
  eventTypeName: string;
  subscriptionId: string;
  eventId: string;
  jobId: string;
  deliveryId: string;
  userId: string;
  tokenId: string;
}

/** A valid value for a leaf that is not under attack, chosen by where it sits. */
function placeholderLeaf(fx: Fixtures, typeName: string, fieldName: string, path: string[]): unknown {
  const name = path.at(-1) ?? '';
  const f = fieldName.toLowerCase();
  switch (typeName) {
    case 'Boolean':
      return false;
    case 'Int':
      return 1;
    case 'Float':
      return 1000;
    case 'DateTime':
      return '2024-01-01T00:00:00Z';
    case 'JSON':
      return {};
    case 'ID':
      return placeholderId(fx, name, f);
  }
  if (name === 'url' || name === 'callbackUrl') return 'https://example.com/hook';
  if (name === 'eventTypes' || name === 'type') return fx.eventTypeName;
  if (name === 'client') return fx.clientName;
  if (name === 'queue') return fx.queueName;
  if (name === 'scopes') return 'subscriptions:read';
  if (name === 'currentPassword') return 'not-the-current-password';
  if (name === 'password' || name === 'newPassword') return 'a-good-long-password-1';
  if (name === 'name') {
    if (f === 'queue') return fx.queueName;
    if (f === 'client') return fx.clientName;
    if (f.includes('eventtype') && !f.startsWith('create')) return fx.eventTypeName;
  }
  return `hostile-${randomUUID().slice(0, 8)}`;
}

function placeholderId(fx: Fixtures, argName: string, field: string): string {
  const byName: Record<string, string> = {
    userId: fx.userId,
    userIds: fx.userId,
    subscriptionId: fx.subscriptionId,
    eventId: fx.eventId,
  };
  if (byName[argName]) return byName[argName];
  if (field.includes('subscription')) return fx.subscriptionId;
  if (field.includes('queue')) return fx.queueId;
  if (field.includes('user')) return fx.userId;
  if (field.includes('job')) return fx.jobId;
  if (field.includes('token')) return fx.tokenId;
  if (field.includes('deliver')) return fx.deliveryId;
  if (field.includes('event')) return fx.eventId;
  return randomUUID();
}

function hostileCases(typeName: string, name: string): HostileCase[] {
  const strings = [
    { kind: 'NUL', value: NUL_STRING },
    { kind: 'control character', value: CONTROL_STRING },
    { kind: 'overlong', value: LONG_STRING },
  ];
  // Cursors and ids also get numbers and keyset cursors out of every range.
  const positions = [
    { kind: 'huge number', value: '99999999999999999999' },
    ...EXTREME_CURSORS.map((value) => ({ kind: `cursor ${value.slice(0, 20)}`, value })),
  ];
  switch (typeName) {
    case 'String':
    case 'ID':
      return typeName === 'ID' || name === 'after' || name === 'before' ? [...strings, ...positions] : strings;
    case 'DateTime':
      return [...EXTREME_DATES.map((value) => ({ kind: `date ${value}`, value })), ...strings];
    case 'JSON':
      return [
        { kind: 'NUL in a JSON string', value: { k: NUL_STRING, list: [NUL_STRING] } },
        { kind: 'NUL in a JSON key', value: { [NUL_STRING]: 1 } },
        ...strings,
      ];
    case 'Int':
      return [
        { kind: 'max int', value: 2_147_483_647 },
        { kind: 'min int', value: -2_147_483_648 },
      ];
    case 'Float':
      return [
        { kind: 'huge float', value: 1e308 },
        { kind: 'negative huge float', value: -1e308 },
      ];
    default:
      return [];
  }
}

/** Every leaf under an argument: `[input, headers, 0, value]` and so on, with its scalar type. */
function* leaves(type: GraphQLInputType, path: string[], depth = 0): Generator<{ path: string[]; typeName: string }> {
  if (depth > 6) return;
  if (isNonNullType(type)) return yield* leaves(type.ofType, path, depth);
  if (isListType(type)) return yield* leaves(type.ofType, [...path, '0'], depth);
  if (isInputObjectType(type)) {
    for (const field of Object.values(type.getFields())) yield* leaves(field.type, [...path, field.name], depth + 1);
    return;
  }
  if (!isEnumType(type)) yield { path, typeName: getNamedType(type).name };
}

/** A value of `type` with `hostile` at `rest` (relative path), and placeholders where required. */
function build(
  fx: Fixtures,
  type: GraphQLInputType,
  field: string,
  at: string[],
  rest: string[],
  hostile: unknown,
): unknown {
  if (isNonNullType(type)) return build(fx, type.ofType, field, at, rest, hostile);
  if (isListType(type)) return [build(fx, type.ofType, field, at, rest[0] === '0' ? rest.slice(1) : rest, hostile)];
  if (isInputObjectType(type)) {
    const value: Record<string, unknown> = {};
    for (const f of Object.values(type.getFields())) {
      if (rest[0] === f.name) value[f.name] = build(fx, f.type, field, [...at, f.name], rest.slice(1), hostile);
      else if (isNonNullType(f.type) && f.defaultValue === undefined) {
        value[f.name] = build(fx, f.type, field, [...at, f.name], [], undefined);
      }
    }
    return value;
  }
  if (rest.length === 0 && hostile !== undefined) return hostile;
  if (isEnumType(type)) {
    const values = type.getValues().map((v) => v.name);
    return values.find((v) => v === 'NONE' || v === 'POST') ?? values[0];
  }
  return placeholderLeaf(fx, getNamedType(type).name, field, at);
}

export interface Probe {
  label: string;
  query: string;
  variables: Record<string, unknown>;
}

/** The required arguments of `field`, plus `target`, as variables named with `prefix`. */
function argumentsFor(field: GraphQLField<unknown, unknown>, prefix: string, target?: GraphQLArgument) {
  const used = field.args.filter((a) => a === target || (isNonNullType(a.type) && a.defaultValue === undefined));
  return {
    used,
    declarations: used.map((a) => `$${prefix}${a.name}: ${a.type}`),
    args: used.length > 0 ? `(${used.map((a) => `${a.name}: $${prefix}${a.name}`).join(', ')})` : '',
  };
}

/**
 * One probe per leaf of every argument of `field` and hostile value of its kind; with `parent`,
 * `field` is selected under that root field, whose own arguments get placeholders.
 */
function probesFor(
  fx: Fixtures,
  operation: 'query' | 'mutation',
  field: GraphQLField<unknown, unknown>,
  parent?: GraphQLField<unknown, unknown>,
): Probe[] {
  const probes: Probe[] = [];
  const selection = isLeafType(getNamedType(field.type)) ? '' : '{ __typename }';
  const outer = parent ? argumentsFor(parent, 'p_') : null;
  const outerVariables = Object.fromEntries(
    (outer?.used ?? []).map((a) => [`p_${a.name}`, build(fx, a.type, parent?.name ?? '', [a.name], [], undefined)]),
  );
  for (const target of field.args) {
    for (const leaf of leaves(target.type, [target.name])) {
      for (const hostile of hostileCases(leaf.typeName, leaf.path.at(-1) ?? '')) {
        const inner = argumentsFor(field, '', target);
        const variables: Record<string, unknown> = { ...outerVariables };
        for (const arg of inner.used) {
          const rest = arg === target ? leaf.path.slice(1) : [];
          variables[arg.name] = build(
            fx,
            arg.type,
            field.name,
            [arg.name],
            rest,
            arg === target ? hostile.value : undefined,
          );
        }
        const declarations = [...(outer?.declarations ?? []), ...inner.declarations].join(', ');
        const body = `${field.name}${inner.args} ${selection}`;
        probes.push({
          label: `${parent ? `${parent.name}.` : ''}${field.name}(${leaf.path.join('.')}) with ${hostile.kind}`,
          query: `${operation} Hostile(${declarations}) { ${parent ? `${parent.name}${outer?.args} { ${body} }` : body} }`,
          variables,
        });
      }
    }
  }
  return probes;
}

/** Fields with arguments one level under the root queries that return one object (queue.messages...). */
function nestedProbes(fx: Fixtures): Probe[] {
  return Object.values(schema.getQueryType()?.getFields() ?? {}).flatMap((root) => {
    const type = getNamedType(root.type);
    if (!isObjectType(type) || isListType(isNonNullType(root.type) ? root.type.ofType : root.type)) return [];
    return Object.values(type.getFields())
      .filter((f) => f.args.length > 0)
      .flatMap((f) => probesFor(fx, 'query', f, root));
  });
}

/** Every argument of every query and mutation, and of the fields one level under single-object queries. */
export function walkSchema(fx: Fixtures): Probe[] {
  const roots: Array<['query' | 'mutation', GraphQLObjectType | null | undefined]> = [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
  ];
  return [
    ...roots.flatMap(([operation, root]) =>
      Object.values(root?.getFields() ?? {}).flatMap((field) => probesFor(fx, operation, field)),
    ),
    ...nestedProbes(fx),
  ];
}
