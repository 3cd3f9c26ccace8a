/**
 * The OVF descriptor (DMTF DSP0243 2.1): the parts diskpick shows and uses — References
 * (files of the package), DiskSection (virtual disks and the file each is made of),
 * VirtualSystem (name, OperatingSystemSection). Read with a small tolerant scanner of
 * elements and attributes (namespace prefixes ignored); no DTD, no entities beyond the five
 * predefined ones, so a hostile descriptor cannot expand.
 */

export interface OvfFile {
  id: string;
  href: string;
  size: number | null;
  /** ovf:compression: "gzip" (the whole file) or absent. */
  compression: string | null;
  /** ovf:chunkSize: the file is split into href.000000000, href.000000001 … */
  chunkSize: number | null;
}

export interface OvfDisk {
  diskId: string;
  fileRef: string | null;
  /** Bytes (capacity × capacityAllocationUnits). */
  capacity: number | null;
  format: string | null;
}

export interface OvfDescriptor {
  vmName: string | null;
  osId: string | null;
  osDescription: string | null;
  osType: string | null;
  files: OvfFile[];
  disks: OvfDisk[];
}

const MAX_ELEMENTS = 100_000;

function unescape(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'amp') return '&';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    const code = e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '';
  });
}

interface Element {
  name: string;
  attrs: Record<string, string>;
  start: number;
  /** Text up to the next tag. */
  text: string;
}

/** Start tags in document order, names and attribute keys without their namespace prefix. */
function elements(xml: string): Element[] {
  const out: Element[] = [];
  const tag = /<([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*\/?>([^<]*)/g;
  const attr = /([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
  let m: RegExpExecArray | null;
  while ((m = tag.exec(xml)) && out.length < MAX_ELEMENTS) {
    const attrs: Record<string, string> = {};
    for (const a of m[2]!.matchAll(attr)) attrs[a[1]!.replace(/^.*:/, '')] = unescape(a[2] ?? a[3] ?? '');
    out.push({ name: m[1]!.replace(/^.*:/, ''), attrs, start: m.index, text: unescape(m[3]!.trim()) });
  }
  return out;
}

/** Units like "byte * 2^30" (DSP0004 programmatic units); plain bytes when absent. */
function allocationUnits(u: string | undefined): number | null {
  if (!u || u === 'byte') return 1;
  const m = /^byte\s*\*\s*(\d+)\s*\^\s*(\d+)$/.exec(u.trim());
  if (!m) return null;
  return Number(m[1]) ** Number(m[2]);
}

export function parseOvf(xml: string): OvfDescriptor {
  const els = elements(xml);
  const files: OvfFile[] = [];
  const disks: OvfDisk[] = [];
  let vmName: string | null = null;
  let osId: string | null = null;
  let osDescription: string | null = null;
  let osType: string | null = null;
  let inVirtualSystem = false;
  let inOs = false;
  for (const e of els) {
    switch (e.name) {
      case 'File':
        files.push({
          id: e.attrs.id ?? '',
          href: e.attrs.href ?? '',
          size: e.attrs.size && /^\d+$/.test(e.attrs.size) ? Number(e.attrs.size) : null,
          compression: e.attrs.compression ?? null,
          chunkSize: e.attrs.chunkSize && /^\d+$/.test(e.attrs.chunkSize) ? Number(e.attrs.chunkSize) : null,
        });
        break;
      case 'Disk': {
        const units = allocationUnits(e.attrs.capacityAllocationUnits);
        const cap = e.attrs.capacity && /^\d+$/.test(e.attrs.capacity) && units ? Number(e.attrs.capacity) * units : null;
        disks.push({ diskId: e.attrs.diskId ?? '', fileRef: e.attrs.fileRef ?? null, capacity: cap !== null && Number.isSafeInteger(cap) ? cap : null, format: e.attrs.format ?? null });
        break;
      }
      case 'VirtualSystem':
        inVirtualSystem = true;
        vmName ??= e.attrs.id ?? null;
        break;
      case 'Name':
        // The VirtualSystem's own Name (the first one after it) beats its ovf:id.
        if (inVirtualSystem && !inOs && e.text) {
          vmName = e.text;
          inVirtualSystem = false;
        }
        break;
      case 'OperatingSystemSection':
        inOs = true;
        osId = e.attrs.id ?? null;
        osType = e.attrs.osType ?? null;
        break;
      case 'Description':
        if (inOs && !osDescription && e.text) {
          osDescription = e.text;
          inOs = false;
        }
        break;
      default:
        break;
    }
  }
  return { vmName, osId, osDescription, osType, files, disks };
}
