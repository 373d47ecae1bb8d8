/**
 * Query parameters checked the same way on every route, before the schema's
 * validation: a parameter the route does not declare, one given twice, or a
 * number spelt other than in decimal is a 400 naming it. Ajv's coercion alone
 * takes `0x10`, `0b11`, `1e3`, `+5` and ` 5` as numbers and says "must be
 * integer" for `limit=5&limit=6`; the schemas still say integer (with their
 * range, which Ajv checks after this), so the OpenAPI document does too.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';

type ParameterKind = 'integer' | 'number' | 'other';
type Check = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

const DECIMAL_INTEGER = /^\d+$/;
const SIGNED_DECIMAL_INTEGER = /^-?\d+$/;
const DECIMAL_NUMBER = /^\d+(?:\.\d+)?$/;
const SIGNED_DECIMAL_NUMBER = /^-?\d+(?:\.\d+)?$/;

interface ParameterSchema {
  type?: unknown;
  minimum?: unknown;
  maximum?: unknown;
}

interface Parameter {
  kind: ParameterKind;
  signed: boolean;
  /** The range to name when a negative value is given to an unsigned parameter. */
  minimum?: number;
  maximum?: number;
}

/** A negative value of a parameter that takes none: its range says more than its spelling. */
function rangeProblem(name: string, parameter: Parameter, value: string): string | undefined {
  if (parameter.signed || !value.startsWith('-') || !(parameter.kind === 'integer' ? SIGNED_DECIMAL_INTEGER : SIGNED_DECIMAL_NUMBER).test(value)) return undefined;
  // "-0" is in range: only its spelling is wrong.
  if (parameter.minimum !== undefined && Number(value) >= parameter.minimum) return undefined;
  const range = parameter.maximum === undefined ? `≥ ${parameter.minimum}` : `from ${parameter.minimum} to ${parameter.maximum}`;
  return `${name} must be ${range}, got ${JSON.stringify(value)}`;
}

/** The message for a query string that breaks the rules, or undefined when it keeps them. */
export function queryProblem(query: Record<string, unknown>, parameters: ReadonlyMap<string, Parameter>): string | undefined {
  for (const name in query) {
    const parameter = parameters.get(name);
    if (!parameter) return `unknown parameter "${name}"${parameters.size === 0 ? ': this route takes no parameter' : `: it takes ${[...parameters.keys()].join(', ')}`}`;
    const value = query[name];
    if (Array.isArray(value)) return `${name} is given ${value.length === 2 ? 'twice' : `${value.length} times`}: give it once`;
    if (parameter.kind === 'other' || typeof value !== 'string') continue;
    const outOfRange = rangeProblem(name, parameter, value);
    if (outOfRange !== undefined) return outOfRange;
    if (parameter.kind === 'integer' && !(parameter.signed ? SIGNED_DECIMAL_INTEGER : DECIMAL_INTEGER).test(value)) {
      return `${name} must be a decimal integer, got ${JSON.stringify(value)}`;
    }
    if (parameter.kind === 'number' && !(parameter.signed ? SIGNED_DECIMAL_NUMBER : DECIMAL_NUMBER).test(value)) {
      return `${name} must be a decimal number, got ${JSON.stringify(value)}`;
    }
  }
  return undefined;
}

/** The parameters a querystring schema declares, with how each is spelt. */
function parametersOf(schema: unknown): Map<string, Parameter> {
  const properties = ((schema ?? {}) as { properties?: Record<string, ParameterSchema> }).properties ?? {};
  return new Map(
    Object.entries(properties).map(([name, property]) => {
      const kind: ParameterKind = property.type === 'integer' ? 'integer' : property.type === 'number' ? 'number' : 'other';
      const minimum = typeof property.minimum === 'number' ? property.minimum : undefined;
      const maximum = typeof property.maximum === 'number' ? property.maximum : undefined;
      return [name, { kind, signed: !(minimum !== undefined && minimum >= 0), minimum, maximum }];
    }),
  );
}

function strictQueryCheck(schema: unknown): Check {
  const parameters = parametersOf(schema);
  return (request, reply, done) => {
    const problem = queryProblem(request.query as Record<string, unknown>, parameters);
    if (problem === undefined) return done();
    // Answered here rather than thrown, so that a role server without the gateway's error handler answers the same.
    void reply.code(400).send({ error: { code: 'BAD_REQUEST', message: problem } });
  };
}

/**
 * Adds the check to every route registered after this call that declares a
 * schema and is not hidden from the API document (Swagger UI's assets are):
 * a route with no querystring schema takes no parameter at all.
 */
export function registerStrictQuery(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema as { hide?: boolean; querystring?: unknown } | undefined;
    if (!schema || schema.hide) return;
    const check = strictQueryCheck(schema.querystring);
    const existing = route.preValidation;
    route.preValidation = existing === undefined ? [check] : [check, ...(Array.isArray(existing) ? existing : [existing])];
  });
}
