/**
 * One topic per cluster. A cluster's per-host keys (latest values, GPU and
 * host metadata, read-modify-written through the owner's cache) assume that
 * one collector at a time writes each host, which holds because one topic's
 * partition owner handles every message of a host. Two topics feeding one
 * cluster would put two owners on the same host's keys. So a cluster is bound
 * to its topic at first use by a streamer (`clusters/{c}/config/topic`); a
 * streamer of another topic is refused at start, and a collector
 * dead-letters a message for a cluster bound to another topic.
 */
import { GputelError } from '../common/gputel-error.js';
import type { KeySpace } from '../kv/key-space.js';
import type { KvStore } from '../kv/kv-store.js';

/**
 * Binds `cluster` to `topic` if it is not bound yet, and resolves to the
 * topic it is bound to (which may be another one). Throws when the store fails.
 */
export async function clusterTopicBinding(kv: KvStore, keys: KeySpace, cluster: string, topic: string): Promise<string> {
  const key = keys.clusterTopic(cluster);
  const result = await kv.txn({
    compare: [{ key, target: 'createRevision', operator: '==', operand: 0 }],
    success: [{ type: 'put', key, value: Buffer.from(topic) }],
    failure: [{ type: 'range', range: { start: key } }],
  });
  if (result.succeeded) return topic;
  const stored = result.results[0]?.type === 'range' ? result.results[0].result.kvs[0] : undefined;
  return stored ? stored.value.toString('utf8') : topic;
}

/** For a streamer at start: binds the cluster to the topic, or throws BAD_CONFIG naming the topic it is bound to. */
export async function requireClusterTopic(kv: KvStore, keys: KeySpace, cluster: string, topic: string): Promise<void> {
  const bound = await clusterTopicBinding(kv, keys, cluster, topic);
  if (bound !== topic) {
    throw new GputelError(
      'BAD_CONFIG',
      `cluster "${cluster}" is fed by topic "${bound}" (recorded at ${keys.clusterTopic(cluster)}), not "${topic}": ` +
        `two topics feeding one cluster would write the same hosts from two collectors. Stream with --topic ${bound}, or use another --cluster`,
    );
  }
}

/** How long a collector trusts that a cluster is unbound before it reads the binding again. */
const UNBOUND_RECHECK_MS = 5_000;

/**
 * A collector's check. It only reads: a collector that may have lost its
 * claim must not write outside its fenced transactions, and the streamer
 * binds at start. A binding, once seen, is remembered (it never changes
 * while gputel runs); an unbound cluster (data from before bindings) is
 * accepted and looked up again every few seconds.
 */
export class ClusterTopicCheck {
  private readonly bound = new Map<string, string>();
  private readonly unboundAt = new Map<string, number>();

  constructor(
    private readonly kv: KvStore,
    private readonly keys: KeySpace,
    private readonly topic: string,
  ) {}

  /** Resolves when the cluster is fed by this topic or unbound; throws BAD_MESSAGE (poison) when bound to another. Throws when the store fails. */
  async check(cluster: string): Promise<void> {
    let bound = this.bound.get(cluster);
    if (bound === undefined) {
      const checkedAt = this.unboundAt.get(cluster);
      if (checkedAt !== undefined && Date.now() - checkedAt < UNBOUND_RECHECK_MS) return;
      const stored = await this.kv.get(this.keys.clusterTopic(cluster));
      if (!stored) {
        this.unboundAt.set(cluster, Date.now());
        return;
      }
      bound = stored.value.toString('utf8');
      this.bound.set(cluster, bound);
      this.unboundAt.delete(cluster);
    }
    if (bound !== this.topic) {
      throw new GputelError(
        'BAD_MESSAGE',
        `the message is for cluster "${cluster}", which is fed by topic "${bound}" (recorded at ${this.keys.clusterTopic(cluster)}), not by this topic "${this.topic}"; ` +
          `stream it to topic "${bound}" (gputel dlq replay puts it back here, where it fails again)`,
      );
    }
  }
}
