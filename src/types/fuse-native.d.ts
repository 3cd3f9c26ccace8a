/**
 * The part of fuse-native 2.2.6 diskpick uses (the package ships no types). Handlers answer
 * through node-style callbacks; a negative number is an errno (-2 = ENOENT). Times in a stat
 * are milliseconds since the epoch: the binding hands the kernel `ms / 1000` seconds and
 * `(ms % 1000) * 1e6` nanoseconds, both unsigned, so millisecond precision and no date before
 * 1970 is what a FUSE mount can show.
 */
declare module 'fuse-native' {
  namespace Fuse {
    interface StatLike {
      mode: number;
      uid: number;
      gid: number;
      size: number;
      dev?: number;
      nlink: number;
      /** 32 bits: the binding passes st_ino as one uint32. */
      ino: number;
      rdev?: number;
      blksize?: number;
      blocks?: number;
      atime: number;
      mtime: number;
      ctime: number;
    }

    interface StatfsLike {
      bsize: number;
      frsize: number;
      blocks: number;
      bfree: number;
      bavail: number;
      files: number;
      ffree: number;
      favail: number;
      fsid: number;
      flag: number;
      namemax: number;
    }

    type Cb<T> = (err: number, value?: T) => void;

    interface Operations {
      init?(cb: (err: number) => void): void;
      getattr?(path: string, cb: Cb<StatLike>): void;
      readdir?(path: string, cb: (err: number, names?: string[], stats?: StatLike[]) => void): void;
      readlink?(path: string, cb: Cb<string>): void;
      open?(path: string, flags: number, cb: Cb<number>): void;
      read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytesOrErr: number) => void): void;
      release?(path: string, fd: number, cb: (err: number) => void): void;
      statfs?(path: string, cb: Cb<StatfsLike>): void;
      getxattr?(path: string, name: string, position: number, cb: (err: number, value?: Buffer | null) => void): void;
      listxattr?(path: string, cb: (err: number, list?: string[]) => void): void;
    }

    interface Options {
      force?: boolean;
      mkdir?: boolean;
      debug?: boolean;
      allowOther?: boolean;
      kernelCache?: boolean;
      entryTimeout?: number;
      attrTimeout?: number;
      fsname?: string;
      subtype?: string;
      maxRead?: number;
      /**
       * Milliseconds a handler may take before the kernel gets ETIMEDOUT; false: no limit. Per
       * operation: `{ default: ms, read: false, … }`.
       */
      timeout?: number | false | ({ default?: number } & Record<string, number | false | undefined>);
    }

    /** `signal(result, ...values)` answers one kernel request. */
    type Signal = (result: number, ...values: unknown[]) => void;

    /** One kernel request, as the binding calls it: its own handle, the op code, the op's arguments. */
    type Handler = (native: unknown, op: number, ...args: any[]) => void;

    /** The native binding's op codes and answers (fuse-native.c: FUSE_METHOD(name, …) signal blocks). */
    interface Binding {
      op_getattr: number;
      op_readdir: number;
      op_read: number;
      /** The stat array is read whatever the result. */
      fuse_native_signal_getattr(native: unknown, result: number, stat: Uint32Array): void;
      /** Names and one stat array per name (same length: else entries go out without a type). */
      fuse_native_signal_readdir(native: unknown, result: number, names: string[], stats: Uint32Array[]): void;
      /** result: bytes read or -errno; `memory` (the request buffer's ArrayBuffer) is detached. */
      fuse_native_signal_read(native: unknown, result: number, unused: number, memory: ArrayBufferLike): void;
    }
  }

  class Fuse {
    constructor(mountpoint: string, ops: Fuse.Operations, opts?: Fuse.Options);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    /** The `-o a,b,c` string handed to libfuse's fuse_mount/fuse_new. */
    _fuseOptions(): string;
    /** Handlers by op code, made once at construction. */
    _makeHandlerArray(): Fuse.Handler[];
    _op_getxattr(signal: Fuse.Signal, path: string, name: string, valueBuf: Buffer, position: number): void;
    _op_listxattr(signal: Fuse.Signal, path: string, listBuf: Buffer): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
  }

  export = Fuse;
}
