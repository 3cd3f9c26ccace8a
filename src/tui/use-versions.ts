/**
 * The browser's versions panel (`v`): the entry under the cursor at every point the image holds
 * (chain levels, internal snapshots, shadow copies, LVM and Btrfs snapshots: src/restore/points.ts),
 * oldest first, with its size, time and hash; Enter restores the version under the cursor into
 * `CWD/versions/POINT/` (the point's name, ':' made '_'), through the restore engine (never over an existing file).
 * Its state lives here, beside the browser's reducer, so the panel is one component and one hook.
 */
import { useRef, useState } from 'react';
import type { Key } from 'ink';
import { join } from 'node:path';
import { pointsFor, type Point } from '../restore/points.js';
import { versionsOf, type VersionRow } from '../restore/versions.js';
import { restore } from '../restore/restore.js';
import type { Vfs, VfsNode } from '../vfs/vfs.js';
import { displayName } from '../present/names.js';

export interface VersionsView {
  path: string;
  rows: VersionRow[] | null;
  cursor: number;
  busy: string | null;
}

/** A point's label as a folder name: its last path component, unsafe characters replaced. */
export function pointFolder(label: string): string {
  const last = label.split(/[\\/]/).filter(Boolean).pop() ?? 'point';
  const safe = label.includes(':/') ? `${label.slice(0, label.indexOf(':/')).split(/[\\/]/).pop()}${label.slice(label.indexOf(':/') + 1).replace(/\//g, '_')}` : last;
  return safe.replace(/[\x00-\x1f\x7f:*?"<>|]/g, '_').replace(/^\.+$/, '_');
}

export function useVersions(opts: { vfs: Vfs; cwd: string; showInfo: (t: string) => void; showError: (e: unknown) => void }) {
  const { vfs, cwd, showInfo, showError } = opts;
  const [view, setView] = useState<VersionsView | null>(null);
  const points = useRef<Point[]>([]);
  const seq = useRef(0);

  const close = () => {
    seq.current++;
    setView(null);
  };

  /** `v` on an entry: its versions across the image's points. */
  const show = (node: VfsNode | undefined) => {
    if (!node || node.stat.type !== 'file') return showInfo(node ? `${displayName(node.path)} is not a file: versions are of files` : 'nothing here');
    const mine = ++seq.current;
    setView({ path: node.path, rows: null, cursor: 0, busy: 'finding the points in time…' });
    void (async () => {
      try {
        const pts = await pointsFor([vfs.imageArg || vfs.imagePath], node.path, vfs.openOptions);
        const rows = await versionsOf(pts, node.path);
        if (mine !== seq.current) return;
        const order = new Map(pts.map((p) => [p.label, p]));
        points.current = rows.map((r) => order.get(r.point)!);
        setView({ path: node.path, rows, cursor: Math.max(0, rows.findIndex((r) => r.point === vfs.imagePath)), busy: null });
      } catch (err) {
        if (mine !== seq.current) return;
        setView(null);
        showError(err);
      }
    })();
  };

  const restoreAt = async (v: VersionsView, i: number) => {
    const row = v.rows![i]!;
    const p = points.current[i]!;
    if (!row.stat) return showInfo(`${displayName(v.path)} does not exist at ${displayName(row.point)}`);
    const outDir = join(cwd, 'versions', pointFolder(row.point));
    setView({ ...v, busy: `restoring to ${outDir}…` });
    let pv: Vfs | null = null;
    try {
      pv = p.label === vfs.imagePath ? vfs : await p.open();
      const node = await pv.lookup(p.pathIn(v.path));
      const s = await restore(pv, [{ node }], { outDir });
      if (s.failed.length) throw new Error(`${displayName(v.path)}: ${s.failed[0]!.error}`);
      setView(null);
      showInfo(`Restored ${displayName(v.path)} as of ${displayName(row.point)} to ${outDir}`);
    } catch (err) {
      setView({ ...v, busy: null });
      showError(err);
    } finally {
      if (pv && pv !== vfs) await pv.close().catch(() => undefined);
    }
  };

  /** Keys while the panel is up; true when the key was the panel's. */
  const onKey = (input: string, key: Key): boolean => {
    if (!view) return false;
    if (key.ctrl && input === 'c') return false;
    if (key.escape || input === 'q' || input === 'v' || key.leftArrow) {
      close();
      return true;
    }
    if (view.busy || !view.rows) return true;
    const last = view.rows.length - 1;
    if (key.upArrow || input === 'k') setView({ ...view, cursor: Math.max(0, view.cursor - 1) });
    else if (key.downArrow || input === 'j') setView({ ...view, cursor: Math.min(last, view.cursor + 1) });
    else if (key.return || input === 'e') void restoreAt(view, view.cursor);
    return true;
  };

  return { view, show, onKey, close };
}
