/**
 * A container that shows another container's bytes as its own: an OVA's disk inside its tar,
 * the chosen checkpoint chain of a Hyper-V export folder, an image inside a compressed stream.
 * Reads go to `disk`; closing closes it, then what the wrapper holds besides (further disks,
 * the archive, a stream cache), each once.
 */
import type { HostRun } from '../source/source.js';
import type { ChainLevel, Container, FurtherDisk } from './container.js';

export abstract class WrappingContainer implements Container {
  abstract readonly format: string;
  abstract readonly variant: string;
  abstract readonly chain: ChainLevel[];
  readonly name: string;
  readonly size: number;
  readonly sectorSize: number;
  readonly warnings: string[];
  readonly moreDisks: FurtherDisk[] | undefined;

  constructor(
    protected readonly disk: Container,
    name: string,
    /** The image's further disks (shown as /disk2 …): their warnings are the image's too. */
    moreDisks: FurtherDisk[] | undefined,
    /** Closed after `disk`, in this order (the further disks the wrapper opened, the archive …). */
    private readonly alsoClose: ReadonlyArray<{ close(): Promise<void> }>,
  ) {
    this.name = name;
    this.size = disk.size;
    this.sectorSize = disk.sectorSize;
    this.warnings = disk.warnings;
    this.moreDisks = moreDisks;
    for (const d of moreDisks ?? []) for (const w of d.container.warnings) if (!this.warnings.includes(w)) this.warnings.push(w);
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.disk.read(offset, length);
  }

  readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    return this.disk.readInto ? this.disk.readInto(target, at, offset, length) : this.disk.read(offset, length).then((b) => b.copy(target, at));
  }

  hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    return this.disk.hostRuns ? this.disk.hostRuns(offset, length) : Promise.resolve(null);
  }

  async close(): Promise<void> {
    await this.disk.close().catch(() => undefined);
    for (const c of this.alsoClose) await c.close().catch(() => undefined);
  }
}
