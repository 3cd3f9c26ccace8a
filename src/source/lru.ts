/**
 * The one bounded cache and the one in-flight de-duplication every layer uses: decoded
 * blocks, grain and L2 tables, MFT records, directory listings, FUSE path lookups.
 *
 * Lru keeps two generations: hits and new entries go to the young map; when the young map
 * reaches half the bound (in entries, or in bytes with a `weigh` function) the old generation
 * is dropped whole and the young one becomes old. Every operation is O(1), the most recently
 * used max/2 entries are always kept, and never more than `max` are held.
 *
 * Why not the textbook Map LRU (delete and re-set on a hit, evict `keys().next().value`): V8
 * leaves deleted slots at the front of the map's table and the iterator walks them, so each
 * eviction costs O(entries). Measured on this machine (Node 20), 2 M misses at a bound of
 * 32 768 entries, get-then-set per key:
 *   Map + keys().next()  26 808 ms   (was in CachedSource, FAT, exFAT, ext, VMDK, WOF…)
 *   lru-cache 11.5        1 102 ms
 *   linked list + Map       801 ms
 *   two generations         328 ms   (this class)
 * and 4 M lookups of 400 hot keys at a bound of 512: 233 / 115 / 74 / 36 ms in the same order.
 * lru-cache, well kept as it is, was 3x slower here, so the cache stays our own (40 lines).
 */
export class Lru<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private youngWeight = 0;
  private readonly half: number;

  /**
   * @param max entries (or, with `weigh`, bytes) held at most.
   * @param weigh an entry's weight (its byte length); by default every entry weighs 1.
   */
  constructor(
    max: number,
    private readonly weigh?: (v: V) => number,
  ) {
    this.half = Math.max(1, max / 2);
  }

  get(k: K): V | undefined {
    const y = this.young.get(k);
    if (y !== undefined) return y;
    const o = this.old.get(k);
    // A hit in the old generation is copied to the young one (the old copy goes with its
    // generation: deleting it here would cost a hash update per hit for nothing).
    if (o !== undefined) this.set(k, o);
    return o;
  }

  has(k: K): boolean {
    return this.young.has(k) || this.old.has(k);
  }

  set(k: K, v: V): void {
    const w = this.weigh ? this.weigh(v) : 1;
    const prev = this.young.get(k);
    if (prev !== undefined) {
      this.youngWeight -= this.weigh ? this.weigh(prev) : 1;
    } else if (this.youngWeight + w > this.half && this.young.size > 0) {
      this.old = this.young;
      this.young = new Map();
      this.youngWeight = 0;
    }
    this.young.set(k, v);
    this.youngWeight += w;
  }

  delete(k: K): void {
    const y = this.young.get(k);
    if (y !== undefined) {
      this.youngWeight -= this.weigh ? this.weigh(y) : 1;
      this.young.delete(k);
    }
    this.old.delete(k);
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
    this.youngWeight = 0;
  }

  /** Entries held now, at most (a key used in both generations counts twice). */
  get size(): number {
    return this.young.size + this.old.size;
  }

  /** Every key held now. */
  keys(): K[] {
    return [...new Set([...this.old.keys(), ...this.young.keys()])];
  }
}

/** An Lru bounded by the total byte length of its values (buffers, tables). */
export function byteLru<K, V extends { length: number }>(maxBytes: number): Lru<K, V> {
  return new Lru<K, V>(maxBytes, (v) => v.length);
}

/**
 * Loads each key once at a time: a second caller asking for a key whose load is still
 * under way shares that load's promise instead of reading the same bytes again. The key
 * is forgotten when its load settles, resolved or rejected (a failed read is retried by the
 * next caller, not cached).
 */
export class InFlight<K, V> {
  private readonly pending = new Map<K, Promise<V>>();

  run(k: K, load: () => Promise<V>): Promise<V> {
    const running = this.pending.get(k);
    if (running) return running;
    let p: Promise<V>;
    try {
      p = load();
    } catch (err) {
      return Promise.reject(err);
    }
    const shared = p.then(
      (v) => {
        this.pending.delete(k);
        return v;
      },
      (err: unknown) => {
        this.pending.delete(k);
        throw err;
      },
    );
    this.pending.set(k, shared);
    return shared;
  }

  /** Loads under way now. */
  get size(): number {
    return this.pending.size;
  }
}
