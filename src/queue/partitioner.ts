/**
 * Routes every sample of one host to one partition, so that a GPU's samples
 * flow in order through one partition and one consumer.
 */
import { fnv1a } from '../common/fnv1a.js';

/** The partition of a host: a stable hash of cluster and hostname, modulo the partition count. */
export function partitionOf(cluster: string, hostname: string, partitions: number): number {
  return fnv1a(`${cluster}/${hostname}`) % partitions;
}

