import { basename } from 'node:path';
import { Text } from 'ink';
import { displayName } from '../../present/names.js';
import { splitPath, type VfsNode } from '../../vfs/vfs.js';
import type { Mode } from '../state.js';
import { fit } from '../width.js';

export interface TitleLineProps {
  imagePath: string;
  dir: VfsNode;
  mode: Mode;
  width: number;
  color: boolean;
}

/** The first line: where we are (image › volume › folders), or what the pager shows. */
export function TitleLine({ imagePath, dir, mode, width, color }: TitleLineProps) {
  const image = basename(imagePath);
  let title: string;
  if (mode.kind === 'pager') title = `${image} — ${displayName(mode.title)}`;
  else {
    const crumbs = [image, ...splitPath(dir.path).map(displayName)].join(' › ');
    title = dir.path === '/' ? `${crumbs} › (volumes)` : crumbs;
  }
  return <Text inverse={!color} bold color={color ? 'cyan' : undefined} wrap="truncate">{fit(` ${title}`, width)}</Text>;
}
