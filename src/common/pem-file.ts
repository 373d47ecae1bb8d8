/**
 * Reading the PEM files of TLS settings (the gateway's --tls-cert/--tls-key,
 * the etcd client's --etcd-ca/--etcd-cert/--etcd-key) with one clear error
 * each: which setting, which file, and what is wrong with it.
 */
import { readFileSync } from 'node:fs';
import { GputelError, errorMessage } from './gputel-error.js';

/**
 * The bytes of the PEM file `file`, given as setting `setting` (e.g.
 * '--tls-cert'). Throws BAD_CONFIG naming both when the file cannot be read or
 * holds no PEM block ("-----BEGIN …"): a DER or empty file would otherwise
 * fail later, in the TLS handshake, with a message that names neither.
 */
export function readPemFile(file: string, setting: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new GputelError('BAD_CONFIG', `${setting} ${file} cannot be read (${errorMessage(error)}): give the path of a PEM file`, { cause: error });
  }
  if (!bytes.includes('-----BEGIN ')) {
    throw new GputelError('BAD_CONFIG', `${setting} ${file} is not a PEM file (no "-----BEGIN" line): convert it, e.g. openssl x509 -inform der -in FILE -out FILE.pem`);
  }
  return bytes;
}
