/**
 * A real etcd and an etcd driver connected to it for the tests of one
 * describe block: started before them, closed and stopped after them.
 */
import { after, before } from 'node:test';
import { EtcdKvStore } from '../../src/kv/etcd-kv-store.js';
import { startEtcd, type EtcdProcess } from './etcd-process.js';

export interface EtcdStore {
  readonly etcd: EtcdProcess;
  readonly store: EtcdKvStore;
}

/** Registers the hooks in the current describe; the fields are set once its tests run. */
export function useEtcdStore(): EtcdStore {
  const state = {} as { etcd: EtcdProcess; store: EtcdKvStore };
  before(async () => {
    state.etcd = await startEtcd();
    state.store = await EtcdKvStore.connect({ endpoints: state.etcd.endpoints });
  });
  after(async () => {
    await state.store?.close();
    await state.etcd?.stop();
  });
  return state;
}
