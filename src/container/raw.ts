import { hostRunsOf, readInto, type ByteSource, type HostRun } from '../source/source.js';
import type { Container, ContainerFormat } from './container.js';
import { direct } from './hostfile.js';

/** A raw image: the file is the disk. Chosen when no other format's magic matches. */
export class RawContainer implements Container {
  readonly format = 'raw';
  readonly sectorSize = 512;
  readonly warnings: string[] = [];
  readonly name: string;
  readonly size: number;
  readonly variant: string;

  /** The disk's bytes: around the host file's block cache (filesystems keep their own). */
  private readonly src: ByteSource;

  constructor(file: ByteSource, variant = 'raw') {
    this.src = direct(file);
    this.name = file.name;
    this.size = file.size;
    this.variant = variant;
  }

  get chain() {
    return [{ format: this.format, variant: this.variant, virtualSize: this.size, file: this.name }];
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.src.read(offset, length);
  }

  readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    return readInto(this.src, target, at, offset, length);
  }

  hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    return hostRunsOf(this.src, offset, length);
  }

  close(): Promise<void> {
    return this.src.close();
  }
}

export const rawFormat: ContainerFormat = {
  name: 'raw',
  probe: () => true,
  open: async (src) => new RawContainer(src),
};
