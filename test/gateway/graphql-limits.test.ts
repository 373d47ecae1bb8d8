/**
 * The GraphQL abuse limits hold on both transports: over HTTP a query too
 * deep, too costly, with too many aliases or tokens, or too long is refused
 * with 400 and BAD_REQUEST before it runs; over graphql-ws the same
 * subscription is refused with a graphql-ws error (mercurius itself runs no
 * validation there). GraphiQL's introspection query passes them all. A
 * subscriber that does not read holds a bounded queue of the newest records,
 * and one connection holds a bounded number of subscriptions.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { getIntrospectionQuery, parse } from 'graphql';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createLogger } from '../../src/common/logger.js';
import { metricsRegistry } from '../../src/common/metrics.js';
import { GputelError } from '../../src/common/gputel-error.js';
import { recordFeed } from '../../src/gateway/graphql/record-feed.js';
import { MAX_SUBSCRIPTIONS_PER_CONNECTION, SubscriptionSlots } from '../../src/gateway/graphql/subscription-slots.js';
import type { FleetQuery } from '../../src/store/fleet-query.js';
import type { StreamedRecord } from '../../src/store/record-stream.js';
import type { GpuEntry } from '../../src/store/registry.js';
import { MAX_ALIASES, MAX_BODY_BYTES, MAX_COST, MAX_DEPTH, MAX_QUERY_BYTES, MAX_TOKENS } from '../../src/gateway/graphql/graphql-limits.js';
import { gql, subscribe, within, wsClient } from '../support/graphql-client.js';
import { startInProcessPipeline, type InProcessPipeline } from '../support/in-process-pipeline.js';
import { waitFor } from '../support/wait-for.js';

/** `count` copies of `text`, space-separated. */
const times = (count: number, text: (i: number) => string): string => Array.from({ length: count }, (_, i) => text(i)).join(' ');

/**
 * One abusive document per limit, as a query (HTTP) and as a subscription
 * (WebSocket), and what the refusal says. A subscription selects one root
 * field of a Record, so its deep and costly forms nest and repeat fragments.
 */
const ABUSES: { limit: string; query: string; subscription: string; message: RegExp }[] = [
  {
    limit: 'depth',
    query: `{ hosts { gpus { latest { metrics { name { a { b } } } } } } }`,
    subscription: `subscription { telemetry { metrics { name { a { b { c { d } } } } } } }`,
    message: new RegExp(`depth limit of ${MAX_DEPTH} exceeded`),
  },
  {
    limit: 'cost',
    // Each spread of a fragment is paid again: valid GraphQL, ever more work to plan.
    query: `{ stats { ${times(60, () => '...S')} } } fragment S on Stats { gpus hosts records samples }`,
    subscription: `subscription { telemetry { ${times(60, () => '...R')} } } fragment R on Record { timestamp uuid gpuId hostname temperature powerDraw metrics { name value } }`,
    message: new RegExp(`Cost limit of ${MAX_COST} exceeded`),
  },
  {
    limit: 'aliases',
    query: `{ ${times(MAX_ALIASES + 1, (i) => `a${i}: stats { gpus }`)} }`,
    subscription: `subscription { telemetry { ${times(MAX_ALIASES + 1, (i) => `a${i}: timestamp`)} } }`,
    message: new RegExp(`Aliases limit of ${MAX_ALIASES} exceeded`),
  },
  {
    limit: 'tokens',
    query: `{ stats { ${times(MAX_TOKENS, () => 'gpus')} } }`,
    subscription: `subscription { telemetry { ${times(MAX_TOKENS, () => 'uuid')} } }`,
    message: new RegExp(`more that ${MAX_TOKENS} tokens`),
  },
  {
    limit: 'size',
    // Comments are no tokens: only the byte limit stops this one.
    query: `{ stats { gpus } }\n#${'x'.repeat(MAX_QUERY_BYTES)}`,
    subscription: `subscription { telemetry { uuid } }\n#${'x'.repeat(MAX_QUERY_BYTES)}`,
    message: new RegExp(`more than the ${MAX_QUERY_BYTES} allowed`),
  },
];

describe('GraphQL limits', () => {
  let pipeline: InProcessPipeline;
  let client: Client;
  before(async () => {
    pipeline = await startInProcessPipeline();
    client = wsClient(pipeline.baseUrl);
  });
  after(async () => {
    await client.dispose();
    await pipeline.stop();
  });

  for (const abuse of ABUSES) {
    it(`refuses a query over the ${abuse.limit} limit over HTTP with 400 BAD_REQUEST`, async () => {
      const { status, body } = await gql(pipeline.baseUrl, abuse.query);
      assert.equal(status, 400);
      assert.equal(body.data, null);
      assert.equal(body.errors?.length, 1);
      assert.equal(body.errors![0].extensions?.code, 'BAD_REQUEST');
      assert.match(body.errors![0].message, abuse.message);
    });

    it(`refuses a subscription over the ${abuse.limit} limit over graphql-ws`, async () => {
      const subscription = subscribe(client, abuse.subscription);
      const errors = await within(subscription.ended, 10_000, 'the refusal').finally(() => subscription.stop());
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.equal(errors[0].extensions?.code, 'BAD_REQUEST');
      assert.match(errors[0].message, abuse.message);
      assert.deepEqual(subscription.events, []);
    });
  }

  it('refuses an invalid subscription over graphql-ws, as graphql validation refuses it over HTTP', async () => {
    const subscription = subscribe(client, 'subscription { telemetry { nope } }');
    const errors = await within(subscription.ended, 10_000, 'the refusal').finally(() => subscription.stop());
    assert.equal(errors[0]?.extensions?.code, 'BAD_REQUEST');
    assert.match(errors[0].message, /Cannot query field "nope" on type "Record"/);
    const http = await gql(pipeline.baseUrl, '{ gpus { nope } }');
    assert.equal(http.status, 400);
    assert.match(http.body.errors![0].message, /Cannot query field "nope" on type "Gpu"/);
  });

  it('refuses a query sent as a ready document (JSON AST) on both transports: no limit could count its tokens', async () => {
    const ast = JSON.parse(JSON.stringify(parse('{ stats { gpus } }'))) as unknown;
    const http = await gql(pipeline.baseUrl, JSON.stringify(ast));
    assert.equal(http.status, 400);
    assert.equal(http.body.errors?.[0].extensions?.code, 'BAD_REQUEST');
    assert.match(http.body.errors![0].message, /must be GraphQL text/);
    // graphql-ws clients send text only: speak the protocol by hand.
    const socket = new WebSocket(`${pipeline.baseUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    try {
      const answers: { type: string; payload?: { message: string; extensions?: { code?: string } }[] }[] = [];
      socket.on('message', (data: Buffer) => answers.push(JSON.parse(data.toString()) as (typeof answers)[number]));
      await once(socket, 'open');
      socket.send(JSON.stringify({ type: 'connection_init' }));
      await waitFor('connection_ack', 10_000, () => (answers.some((a) => a.type === 'connection_ack') ? true : undefined));
      socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: JSON.parse(JSON.stringify(parse('subscription { telemetry { uuid } }'))) as unknown } }));
      const refusal = await waitFor('the refusal', 10_000, () => answers.find((a) => a.type === 'error'));
      assert.equal(refusal.payload?.[0].extensions?.code, 'BAD_REQUEST');
      assert.match(refusal.payload![0].message, /must be GraphQL text/);
    } finally {
      socket.close();
    }
  });

  it('refuses a body over the POST limit with 413, in the GraphQL error shape', async () => {
    const { status, body } = await gql(pipeline.baseUrl, '{ stats { gpus } }', { padding: 'x'.repeat(MAX_BODY_BYTES) });
    assert.equal(status, 413);
    assert.equal(body.errors?.[0].extensions?.code, 'PAYLOAD_TOO_LARGE', 'the code REST gives a 413');
  });

  it('refuses a subscription over HTTP, naming the WebSocket path', async () => {
    const { status, body } = await gql(pipeline.baseUrl, 'subscription { telemetry { uuid } }');
    assert.equal(status, 400);
    assert.equal(body.errors?.[0].extensions?.code, 'BAD_REQUEST');
    assert.match(body.errors![0].message, /over WebSocket \(graphql-ws\)/);
  });

  it('refuses a batch of queries: one operation per request', async () => {
    const response = await fetch(`${pipeline.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ query: '{ stats { gpus } }' }, { query: '{ stats { hosts } }' }]),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { errors: { extensions?: { code?: string } }[] };
    assert.equal(body.errors[0].extensions?.code, 'BAD_REQUEST');
  });

  it(`refuses a subscription beyond ${MAX_SUBSCRIPTIONS_PER_CONNECTION} on one connection`, async () => {
    const own = wsClient(pipeline.baseUrl);
    try {
      const ended: (readonly unknown[] | undefined)[] = [];
      const subscriptions = Array.from({ length: MAX_SUBSCRIPTIONS_PER_CONNECTION + 1 }, (_, i) => {
        const subscription = subscribe(own, 'subscription { telemetry { uuid } }');
        void subscription.ended.then((errors) => (ended[i] = errors));
        return subscription;
      });
      const errors = await within(Promise.race(subscriptions.map((subscription) => subscription.ended)), 10_000, 'a refusal');
      assert.equal(errors[0]?.extensions?.code, 'BAD_REQUEST');
      assert.match(errors[0].message, new RegExp(`already has ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions`));
      assert.equal(ended.filter((end) => end !== undefined).length, 1, 'only one is refused');
    } finally {
      await own.dispose();
    }
  });

  it('gives a subscription slot back once, however often its end is reported', () => {
    const slots = new SubscriptionSlots(2);
    const first = slots.take('a');
    slots.take('b');
    assert.throws(() => slots.take('c'), (error: GputelError) => error.code === 'BAD_REQUEST');
    first();
    first();
    slots.take('c');
    assert.throws(() => slots.take('d'), (error: GputelError) => error.code === 'BAD_REQUEST');
  });

  it('refuses an id in use on the connection, and remembers a complete that came during set-up until the slot is given back', () => {
    const slots = new SubscriptionSlots();
    slots.reserve('1');
    const release = slots.take('1');
    assert.throws(() => slots.reserve('1'), (error: GputelError) => error.code === 'BAD_REQUEST' && /in use/.test(error.message));
    assert.equal(slots.wasCompleted('1'), false);
    slots.complete('1');
    assert.equal(slots.wasCompleted('1'), true);
    release();
    assert.equal(slots.size, 0);
    slots.complete('never-taken');
    slots.reserve('1');
    const again = slots.take('1');
    assert.equal(slots.wasCompleted('1'), false, 'a complete is forgotten with its subscription');
    again();
  });

  it('ends every subscription of a connection that reused an id or completed one during set-up, once it closes', async () => {
    const subscribers = async (): Promise<number> => {
      const metric = await metricsRegistry.getSingleMetric('gputel_gateway_record_stream_subscribers')?.get();
      return metric?.values.reduce((sum, value) => sum + value.value, 0) ?? 0;
    };
    // The tests before this one closed their connections; their subscriptions end a moment later.
    const before = await waitFor('the earlier tests\' subscriptions end', 10_000, async () => ((await subscribers()) === 0 ? 0 : undefined));
    const socket = new WebSocket(`${pipeline.baseUrl.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    await once(socket, 'open');
    const frames: { id?: string; type: string; payload?: unknown }[] = [];
    socket.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString()) as { type: string }));
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await waitFor('the connection is acknowledged', 10_000, () => (frames.some((frame) => frame.type === 'connection_ack')) || undefined);
    const query = 'subscription { telemetry { uuid } }';
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
    await waitFor('the first subscription follows', 10_000, async () => ((await subscribers()) === before + 1) || undefined);
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
    await waitFor('the reused id is refused', 10_000, () => (frames.some((frame) => frame.id === '1' && frame.type === 'error')) || undefined);
    const refusal = frames.find((frame) => frame.id === '1' && frame.type === 'error');
    assert.match(JSON.stringify(refusal?.payload), /in use on this connection/);
    // A complete right behind its subscribe reaches the gateway while the subscription is set up.
    socket.send(JSON.stringify({ id: '2', type: 'subscribe', payload: { query } }));
    socket.send(JSON.stringify({ id: '2', type: 'complete' }));
    await waitFor('the completed one ends', 10_000, async () => ((await subscribers()) === before + 1) || undefined);
    socket.close();
    await waitFor('nothing is left once the socket closed', 10_000, async () => ((await subscribers()) === before) || undefined);
  });

  it("answers GraphiQL's introspection query within every limit", async () => {
    const { status, body } = await gql<{ __schema: { queryType: { name: string }; subscriptionType: { name: string } } }>(pipeline.baseUrl, getIntrospectionQuery());
    assert.equal(status, 200);
    assert.equal(body.errors, undefined);
    assert.equal(body.data?.__schema.queryType.name, 'Query');
    assert.equal(body.data?.__schema.subscriptionType.name, 'Subscription');
  });
});

describe('GraphQL subscription queue', () => {
  const logger = createLogger('silent');
  /** A record stream of one subscriber that the test feeds by hand. */
  function handStream(): { query: Pick<FleetQuery, 'subscribeRecords'>; push(records: StreamedRecord[]): void; readonly subscribed: boolean } {
    let listener: ((records: StreamedRecord[]) => void) | undefined;
    return {
      query: {
        subscribeRecords: (_filter, next) => {
          listener = next;
          return Promise.resolve(() => {
            listener = undefined;
          });
        },
      },
      push: (records) => listener?.(records),
      get subscribed() {
        return listener !== undefined;
      },
    };
  }
  const gpu = { uuid: 'GPU-1' } as GpuEntry;
  const records = (from: number, count: number): StreamedRecord[] => Array.from({ length: count }, (_, i) => ({ gpu, timestampMs: from + i, values: { DCGM_FI_DEV_GPU_TEMP: from + i } }));

  it('keeps the newest records of a client that does not read, at most the bound, and ends its stream subscription on return', async () => {
    const stream = handStream();
    let ends = 0;
    const feed = await recordFeed(stream.query, {}, logger, { maxQueued: 100, onEnd: () => ends++ });
    stream.push(records(0, 150));
    stream.push(records(150, 30));
    const received: number[] = [];
    for (let i = 0; i < 100; i++) received.push(((await feed.next()).value as StreamedRecord).timestampMs);
    assert.deepEqual(received, Array.from({ length: 100 }, (_, i) => 80 + i), 'the oldest 80 were dropped');
    const waiting = feed.next();
    stream.push(records(180, 1));
    assert.equal(((await waiting).value as StreamedRecord).timestampMs, 180, 'a waiting reader gets the next record at once');
    await feed.return!();
    await feed.return!();
    assert.equal(stream.subscribed, false);
    assert.equal(ends, 1);
    assert.deepEqual(await feed.next(), { value: undefined, done: true });
  });
});
