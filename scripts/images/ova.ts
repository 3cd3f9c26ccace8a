/**
 * OVA test image: the FAT tests' GPT disk and their floppy converted by qemu-img to
 * streamOptimized VMDKs (what VMware and VirtualBox export), an OVF 1.x descriptor written
 * here after DSP0243's examples, and GNU tar in ustar format with the descriptor first.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildBareFloppy, buildGptFatDisk, ensureImage } from './fat.js';

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
  const work = join(cache, 'ova.work');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  OVA.disks.forEach((d, i) => execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', sources[i]!, join(work, d.file)]));
  const files = OVA.disks.map((d, i) => `    <File ovf:id="file${i + 1}" ovf:href="${d.file}" ovf:size="${statSync(join(work, d.file)).size}"/>`).join('\n');
  const disks = OVA.disks.map((d, i) => `    <Disk ovf:capacity="${statSync(sources[i]!).size}" ovf:capacityAllocationUnits="byte" ovf:diskId="${d.id}" ovf:fileRef="file${i + 1}" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>`).join('\n');
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
  writeFileSync(join(work, 'appliance.ovf'), ovf);
  const out = join(cache, OVA.name);
  execFileSync('tar', ['--format=ustar', '-C', work, '-cf', `${out}.tmp`, 'appliance.ovf', ...OVA.disks.map((d) => d.file)]);
  renameSync(`${out}.tmp`, out);
  rmSync(work, { recursive: true, force: true });
  return out;
}
