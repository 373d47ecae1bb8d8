/**
 * Which values are sealed when an encryption key is configured
 * (docs/encryption.md), by their key (the key space of key-space.ts):
 *
 * - sealed: everything under `{root}/clusters/{cluster}/` (chunks, GPU and
 *   host metadata, the uuid index, latest values, partition stats, and
 *   whatever is added there later), except its `config/`; and the queued
 *   messages (`queue/{topic}/p/…`) and dead letters (`queue/{topic}/dlq/…`),
 *   which hold the same telemetry.
 * - readable: the coordination keys: group members, partition owners,
 *   source claims, checkpoints, topic and cluster config, maintenance
 *   leaders. They carry no telemetry (ids, revisions, byte offsets, file
 *   paths), operators read them to see who does what, and every process must
 *   be able to agree on them before it can check a key.
 */

/** A predicate over full store keys: true where the value is sealed. Keys outside `root` are never sealed. */
export type SealedKeyPolicy = (key: string) => boolean;

export function sealedKeyPolicy(root: string): SealedKeyPolicy {
  const clusters = `${root}/clusters/`;
  const queue = `${root}/queue/`;
  return (key) => {
    if (key.startsWith(clusters)) {
      // {cluster}/config/… stays readable; everything else of the cluster is sealed.
      const clusterEnd = key.indexOf('/', clusters.length);
      return clusterEnd < 0 || !key.startsWith('config/', clusterEnd + 1);
    }
    if (key.startsWith(queue)) {
      const topicEnd = key.indexOf('/', queue.length);
      return topicEnd >= 0 && (key.startsWith('p/', topicEnd + 1) || key.startsWith('dlq/', topicEnd + 1));
    }
    return false;
  };
}
