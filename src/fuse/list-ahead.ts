/**
 * Folders listed ahead of a walker (find, du, a file manager): the sub-folders of every
 * folder listed, breadth first, a few at a time between requests (each step runs after the
 * requests waiting: setImmediate follows libuv's poll phase, where the binding's requests
 * arrive). The image reading and decoding of the next folders then overlaps the kernel's and
 * the walker's work instead of following it, and through the libfuse3 binding each listing
 * is offered to libfuse's threads (`offer`), which answer the walker's LOOKUP and READDIR of
 * that folder without a trip to JavaScript. Bounded: LIST_AHEAD_FOLDERS queued, a quarter of
 * the kept-listing budget in names listed ahead and not yet asked for, and the binding's own
 * byte limit (an offer refused stops the queue until the walker asks again). Errors are left
 * to the walker's own request, which reports them.
 */
import { nameAt, type Entry, type Listing } from './listing.js';

/** Folders queued to be listed ahead of a walker. */
const LIST_AHEAD_FOLDERS = 4096;

/**
 * Listings made ahead at once. One at a time, each folder's reads (its record, its index
 * bitmap, its INDX run: cold, a disk's latency each) waited behind the last one's decoding;
 * with a few in flight the reads of the next folders overlap the decoding of this one.
 * NTFS bench image (100 folders of 1000 files), first cold `find` of a fresh mount, medians
 * of 5 alternating runs, twice: 1 in flight 0.367 / 0.362 s, 4 in flight 0.322 / 0.276 s
 * (ntfs-3g 0.147 / 0.128 s in the same runs).
 */
const LIST_AHEAD_IN_FLIGHT = 4;

/** What the queue needs of the operations: their listing cache and their stat words. */
export interface ListAheadHost {
  /** The kept listing of `e`, if any (does not read). */
  kept(e: Entry): Listing | undefined;
  /** Lists `e` (at `path`) without listing further ahead. */
  list(e: Entry, path: string): Promise<Listing>;
  statArray(e: Entry): Uint32Array;
}

export class ListAhead {
  private readonly queue: Array<[Entry, string]> = [];
  /** Listings being made ahead right now (at most LIST_AHEAD_IN_FLIGHT). */
  private running = 0;
  /** Lanes waiting for the next step callback (wake), and whether it is scheduled. */
  private ready = 0;
  private scheduled = false;
  /** Names listed ahead and not yet asked for by a walker (approximate: what the queue may still add). */
  private names = 0;
  /** Through the libfuse3 binding: hands a folder's listing made ahead, and its stat, to libfuse's threads; false when refused. */
  offer?: (path: string, l: Listing, st: Uint32Array) => boolean;

  /** @param budget names listed ahead at most without the binding (a quarter of the kept-listing budget). */
  constructor(private readonly host: ListAheadHost, private readonly budget: number) {}

  /** Queues the filesystem folders of `l` (the listing of `path`) and starts the queue. */
  after(l: Listing, path: string): void {
    // Only the entries made with the listing (folders, a few per folder): a scan of every name
    // made this function hot enough for the optimizing compiler (2.5-10 ms of its CPU a walk).
    for (const i of l.folders ?? []) {
      if (this.queue.length >= LIST_AHEAD_FOLDERS) break;
      const k = l.kids?.[i];
      // Folders of a filesystem only: a volume's folder would open its filesystem (or ask for its key) unasked.
      if (k?.kind === 'vfs' && k.node.place.kind === 'fs' && k.node.stat.type === 'dir' && !this.host.kept(k)) this.queue.push([k, `${path === '/' ? '' : path}/${nameAt(l, i)}`]);
    }
    while (this.running < LIST_AHEAD_IN_FLIGHT && this.running < this.queue.length) {
      this.running++;
      this.wake();
    }
  }

  /**
   * Steps a lane after the requests waiting. Lanes ready at once step in one callback: their
   * listings then run side by side (each goes on at the others' awaits), so the filesystem
   * sees them in flight together and reads so that they overlap (NTFS: a folder's INDX span
   * in one read, on the thread pool). A callback per lane ran each listing to its end before
   * the next one began, so the filesystem saw one listing at a time.
   */
  private wake(): void {
    this.ready++;
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const n = this.ready;
      this.ready = 0;
      for (let i = 0; i < n; i++) this.step();
    });
  }

  /** One lane of the queue: lists the next folder, then steps again, until the queue is empty. */
  private step(): void {
    const next = this.queue.shift();
    // Through the binding, what waits is bounded by its byte limit; without it, by names listed.
    if (!next || (!this.offer && this.names > this.budget)) {
      this.queue.length = 0;
      if (--this.running === 0) this.names = 0;
      return;
    }
    const [k, p] = next;
    if (this.host.kept(k)) {
      this.wake();
      return;
    }
    this.host.list(k, p).then((kl) => {
      this.names += kl.count;
      if (this.offer && !this.offer(p, kl, this.host.statArray(k))) {
        this.queue.length = 0;
      } else {
        this.after(kl, p);
      }
      this.wake();
    }, () => this.wake());
  }
}
