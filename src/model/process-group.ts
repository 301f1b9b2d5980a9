// The options of Model.joinProcessGroup, checked before the addon sees them.
import { loadNative, type NativeProcessGroupOptions } from '../native.js';
import { expectInteger, expectKnownKeys, expectNumber, expectString, invalid } from '../util/index.js';

export interface ProcessGroupOptions {
  /** This process's rank in [0, worldSize); rank 0 hosts the rendezvous store. */
  rank: number;
  worldSize: number;
  /** Where rank 0 listens (its TCPStore): host name or address, and port. */
  masterAddr: string;
  masterPort: number;
  /** The local address this rank's Gloo binds and its peers connect to. Give this or `interface`. */
  host?: string;
  /** A network interface name (e.g. eth0) instead of `host`. */
  interface?: string;
  /** Seconds every rank has to arrive at the rendezvous. Default 300. */
  connectTimeout?: number;
  /** Seconds one collective may wait for a silent peer before failing. Default 300. */
  opTimeout?: number;
  /** Seconds the first broadcast waits for rank 0's set-up (decoding, the run directory). Default 3600. */
  setupTimeout?: number;
  /** Gradients are all-reduced in flat buckets of about this many bytes. Default 25 MiB. */
  bucketBytes?: number;
}

const MAX_SECONDS = 7 * 24 * 3600;

export function checkProcessGroupOptions(options: ProcessGroupOptions): NativeProcessGroupOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  expectKnownKeys(options, 'options', ['rank', 'worldSize', 'masterAddr', 'masterPort', 'host', 'interface', 'connectTimeout', 'opTimeout', 'setupTimeout', 'bucketBytes']);
  const worldSize = expectInteger(options.worldSize, 'options.worldSize', 1, 1 << 20);
  const host = options.host === undefined ? '' : expectString(options.host, 'options.host');
  const iface = options.interface === undefined ? '' : expectString(options.interface, 'options.interface');
  if (!host && !iface) throw invalid('options.host', 'a local address (or options.interface)', options.host);
  return {
    rank: expectInteger(options.rank, 'options.rank', 0, worldSize - 1),
    worldSize,
    masterAddr: expectString(options.masterAddr, 'options.masterAddr'),
    masterPort: expectInteger(options.masterPort, 'options.masterPort', 1, 65535),
    host,
    interface: iface,
    connectTimeout: expectNumber(options.connectTimeout ?? 300, 'options.connectTimeout', 0.1, MAX_SECONDS),
    opTimeout: expectNumber(options.opTimeout ?? 300, 'options.opTimeout', 0.1, MAX_SECONDS),
    setupTimeout: expectNumber(options.setupTimeout ?? 3600, 'options.setupTimeout', 0.1, MAX_SECONDS),
    bucketBytes: expectInteger(options.bucketBytes ?? 25 << 20, 'options.bucketBytes', 1, 2 ** 40),
  };
}

/** null when this build of the addon can join a process group, else why not (e.g. built without libgloo-dev). */
export function distributedAvailable(): string | null {
  return loadNative().distributedAvailable();
}

/** A Float64Array of finite numbers, for allReduceSum. */
export function checkReduceValues(values: readonly number[]): Float64Array {
  if (!Array.isArray(values)) throw invalid('values', 'an array of numbers', values);
  values.forEach((v, i) => expectNumber(v, `values[${i}]`));
  return Float64Array.from(values);
}
