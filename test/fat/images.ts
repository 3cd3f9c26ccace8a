import { readFileSync } from 'node:fs';
import { buildBareFloppy, buildGpt4kFatDisk, buildGptFatDisk, buildMbrFatDisk, type VolumeManifests } from '../../scripts/images/fat.js';
import { cachedImage } from '../helpers/tools.js';

export const fatImages = {
  mbr: () => cachedImage('fat-mbr.img', buildMbrFatDisk),
  gpt: () => cachedImage('fat-gpt.img', buildGptFatDisk),
  gpt4k: () => cachedImage('fat-gpt4k.img', buildGpt4kFatDisk),
  floppy: () => cachedImage('fat-floppy.img', buildBareFloppy),
};

export function manifests(image: string): VolumeManifests {
  return JSON.parse(readFileSync(`${image}.manifest.json`, 'utf8')) as VolumeManifests;
}
