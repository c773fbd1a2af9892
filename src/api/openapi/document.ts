/**
 * Builds the OpenAPI 3.1 document from the route registry (spec.ts): zod schemas become JSON
 * Schema (draft 2020-12, which OpenAPI 3.1 uses), each route's error codes become responses
 * grouped by the status src/api/errors.ts gives them. The result is a plain JSON value, built
 * once per process and served as is.
 */

import { z } from 'zod'
import type { ErrorCode } from '../../env/errors.js'
import { VERSION } from '../../version.js'
import { STATUS_BY_CODE } from '../errors.js'
import { errorBody } from './schemas.js'
import { type BodySpec, ROUTES, type RouteSpec, TAGS } from './spec.js'

type Json = Record<string, unknown>

const ERROR_REF = { $ref: '#/components/schemas/Error' }

/** A zod schema as an inline JSON Schema (without the `$schema` marker). */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): Json {
  const converted = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as Json
  delete converted['$schema']
  return converted
}

/** The properties of an object schema with whether each is required. */
function fieldsOf(schema: z.ZodObject): { name: string; schema: Json; required: boolean }[] {
  const converted = jsonSchemaOf(schema, 'input')
  const properties = (converted['properties'] ?? {}) as Record<string, Json>
  const required = new Set((converted['required'] ?? []) as string[])
  return Object.entries(properties).map(([name, property]) => ({
    name,
    schema: property,
    required: required.has(name),
  }))
}

function parametersOf(route: RouteSpec): Json[] {
  const groups: [z.ZodObject | undefined, 'path' | 'query' | 'header'][] = [
    [route.pathParameters, 'path'],
    [route.query, 'query'],
    [route.headers, 'header'],
  ]
  const parameters: Json[] = []
  for (const [schema, location] of groups) {
    if (schema === undefined) continue
    for (const field of fieldsOf(schema)) {
      const { description, ...rest } = field.schema
      parameters.push({
        name: field.name,
        in: location,
        required: location === 'path' || field.required,
        ...(description === undefined ? {} : { description }),
        schema: rest,
      })
    }
  }
  return parameters
}

function contentOf(body: BodySpec, io: 'input' | 'output'): Json {
  return {
    [body.contentType]: body.schema === undefined ? {} : { schema: jsonSchemaOf(body.schema, io) },
  }
}

/** Error codes grouped by status, in status order. */
export function errorsByStatus(codes: readonly ErrorCode[]): Map<number, ErrorCode[]> {
  const grouped = new Map<number, ErrorCode[]>()
  for (const code of codes) {
    const status = STATUS_BY_CODE[code]
    grouped.set(status, [...(grouped.get(status) ?? []), code])
  }
  return new Map([...grouped.entries()].sort(([a], [b]) => a - b))
}

function responsesOf(route: RouteSpec): Json {
  const responses: Json = {}
  for (const [status, response] of Object.entries(route.responses)) {
    responses[status] = {
      description: response.description,
      ...(response.body === undefined ? {} : { content: contentOf(response.body, 'output') }),
      ...(response.headers === undefined
        ? {}
        : {
            headers: Object.fromEntries(
              Object.entries(response.headers).map(([name, description]) => [
                name,
                { description, schema: { type: 'string' } },
              ]),
            ),
          }),
    }
  }
  for (const [status, codes] of errorsByStatus(route.errors)) {
    responses[String(status)] = {
      description: `Error: ${codes.join(', ')}.`,
      content: { 'application/json': { schema: ERROR_REF } },
      'x-murmur-error-codes': codes,
    }
  }
  return responses
}

function operationOf(route: RouteSpec): Json {
  const description = [route.description, route.condition].filter((text) => text !== undefined)
  return {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    ...(description.length === 0 ? {} : { description: description.join(' ') }),
    parameters: parametersOf(route),
    ...(route.requestBody === undefined
      ? {}
      : {
          requestBody: {
            required: route.requestBody.contentType === '*/*',
            ...(route.requestBody.description === undefined
              ? {}
              : { description: route.requestBody.description }),
            content: contentOf(route.requestBody, 'input'),
          },
        }),
    responses: responsesOf(route),
  }
}

/** The whole document for `routes` (every route murmur serves by default). */
export function buildOpenApiDocument(routes: readonly RouteSpec[] = ROUTES): Json {
  const paths = new Map<string, Json>()
  for (const route of routes) {
    const item = paths.get(route.path) ?? {}
    item[route.method] = operationOf(route)
    paths.set(route.path, item)
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'murmur',
      version: VERSION,
      description:
        'A leaderless, Dynamo-style key-value store with tunable consistency. Every node serves the whole API; any node takes any request.',
    },
    tags: TAGS,
    paths: Object.fromEntries(paths),
    components: { schemas: { Error: jsonSchemaOf(errorBody, 'output') } },
  }
}
