/**
 * OVA test image: the FAT tests' GPT disk and their floppy converted by qemu-img to
 * streamOptimized VMDKs (what VMware and VirtualBox export), an OVF 1.x descriptor written
 * here after DSP0243's examples, and GNU tar in ustar format with the descriptor first.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildBareFloppy, buildGptFatDisk, ensureImage } from './fat.js';
import { buildLvmImagesB } from './lvm.js';

export const OVA = {
  name: 'appliance.ova',
  vmName: 'diskpick test appliance',
  osType: 'otherLinux64Guest',
  osDescription: 'Other Linux (64-bit)',
  osId: '101',
  disks: [
    { id: 'vmdisk1', file: 'appliance-disk1.vmdk', source: 'fat-gpt.img' },
    { id: 'vmdisk2', file: 'appliance-disk2.vmdk', source: 'fat-floppy.img' },
  ],
};

export function ovaSources(cache: string): string[] {
  return [ensureImage(cache, 'fat-gpt.img', buildGptFatDisk), ensureImage(cache, 'fat-floppy.img', buildBareFloppy)];
}

export function buildOva(cache: string): string {
  const sources = ovaSources(cache);
  return writeOva(join(cache, OVA.name), OVA.disks.map((d, i) => ({ ...d, source: sources[i]! })));
}

/** A disk of an OVA being written: raw `source`, stored as `file` (a VMDK unless `raw`). */
export interface OvaDiskSpec {
  id: string;
  file: string;
  source: string;
  /** Stored as the raw bytes (an OVF may hold raw disks), not converted to a VMDK. */
  raw?: boolean;
  /** Split into `file.000000000` … of this size (ovf:chunkSize), by split(1). */
  chunkSize?: number;
}

/**
 * Images OVA-M: three disks of one machine — the two disks of LVM image B (a VG whose
 * striped LV spans both; scripts/images/lvm.ts), the second split by ovf:chunkSize in
 * 256 KiB chunks, and the FAT floppy stored raw.
 */
export const OVA_MULTI = {
  name: 'multi.ova',
  chunkSize: 256 << 10,
  disks: [
    { id: 'lvmdisk1', file: 'multi-disk1.vmdk' },
    { id: 'lvmdisk2', file: 'multi-disk2.vmdk' },
    { id: 'floppy', file: 'multi-floppy.img' },
  ],
};

export function ovaMultiSources(cache: string): string[] {
  const b1 = join(cache, 'lvm-b1.img');
  const b2 = join(cache, 'lvm-b2.img');
  if (!existsSync(b2)) buildLvmImagesB(b1, b2);
  return [b1, b2, ensureImage(cache, 'fat-floppy.img', buildBareFloppy)];
}

export function buildOvaMulti(cache: string): string {
  const src = ovaMultiSources(cache);
  const d = OVA_MULTI.disks;
  return writeOva(join(cache, OVA_MULTI.name), [
    { ...d[0]!, source: src[0]! },
    { ...d[1]!, source: src[1]!, chunkSize: OVA_MULTI.chunkSize },
    { ...d[2]!, source: src[2]!, raw: true },
  ]);
}

/** Writes an OVA of `specs` (descriptor first, ustar) at `out`; returns `out`. */
export function writeOva(out: string, specs: OvaDiskSpec[]): string {
  const work = `${out}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const members: string[] = [];
  for (const d of specs) {
    if (d.raw) copyFileSync(d.source, join(work, d.file));
    else execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', d.source, join(work, d.file)]);
    if (!d.chunkSize) {
      members.push(d.file);
      continue;
    }
    execFileSync('split', ['-b', String(d.chunkSize), '-d', '-a', '9', d.file, `${d.file}.`], { cwd: work });
    members.push(...readdirSync(work).filter((n) => n.startsWith(`${d.file}.`)).sort());
  }
  const files = specs.map((d, i) => `    <File ovf:id="file${i + 1}" ovf:href="${d.file}" ovf:size="${statSync(join(work, d.file)).size}"${d.chunkSize ? ` ovf:chunkSize="${d.chunkSize}"` : ''}/>`).join('\n');
  const disks = specs.map((d, i) => `    <Disk ovf:capacity="${statSync(d.source).size}" ovf:capacityAllocationUnits="byte" ovf:diskId="${d.id}" ovf:fileRef="file${i + 1}" ovf:format="${d.raw ? 'http://diskpick.test/raw' : 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized'}"/>`).join('\n');
  for (const d of specs) if (d.chunkSize) rmSync(join(work, d.file));
  const ovf = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="build-1" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
${files}
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
${disks}
  </DiskSection>
  <VirtualSystem ovf:id="appliance">
    <Info>A virtual machine</Info>
    <Name>${OVA.vmName}</Name>
    <OperatingSystemSection ovf:id="${OVA.osId}" vmw:osType="${OVA.osType}">
      <Info>The kind of installed guest operating system</Info>
      <Description>${OVA.osDescription}</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <Item>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
  const descriptor = `${basename(out, '.ova')}.ovf`;
  writeFileSync(join(work, descriptor), ovf);
  execFileSync('tar', ['--format=ustar', '-C', work, '-cf', `${out}.tmp`, descriptor, ...members]);
  renameSync(`${out}.tmp`, out);
  rmSync(work, { recursive: true, force: true });
  return out;
}
