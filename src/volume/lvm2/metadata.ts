/**
 * The LVM2 text metadata (lvm2's "config" syntax, as in /etc/lvm/backup files): sections
 * `name { … }`, assignments `key = value` with strings, integers and [lists], `#` comments.
 * The text comes from the image, so it is treated as hostile: its size, the nesting depth, the
 * number of values and of list items are bounded, and every error is one line.
 */
import { corrupt } from '../../errors.js';
import { MAX_METADATA_TEXT } from './label.js';

export type ConfigValue = string | number | ConfigValue[];
export interface ConfigSection {
  /** Keys in file order; a key appears once. */
  readonly entries: Map<string, ConfigValue | ConfigSection>;
}

const MAX_DEPTH = 16;
const MAX_NODES = 200_000;
const MAX_LIST = 65_536;

export function isSection(v: ConfigValue | ConfigSection | undefined): v is ConfigSection {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseConfig(text: string, file: string): ConfigSection {
  if (text.length > MAX_METADATA_TEXT) throw corrupt(file, `LVM2 metadata text is larger than ${MAX_METADATA_TEXT} bytes`);
  let i = 0;
  let nodes = 0;
  const n = text.length;
  const fail = (msg: string): never => {
    const line = text.slice(0, i).split('\n').length;
    throw corrupt(file, `LVM2 metadata, line ${line}: ${msg}`);
  };
  const skip = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x23) {
        const e = text.indexOf('\n', i);
        i = e < 0 ? n : e + 1;
      } else if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0) i++;
      else break;
    }
  };
  const ident = (): string => {
    const m = /[A-Za-z0-9_.+\-]+/y;
    m.lastIndex = i;
    const r = m.exec(text);
    if (!r) fail(`a name was expected, found "${text.slice(i, i + 10)}"`);
    i += r![0].length;
    return r![0];
  };
  const value = (depth: number): ConfigValue => {
    if (++nodes > MAX_NODES) fail(`more than ${MAX_NODES} values`);
    skip();
    const c = text[i];
    if (c === '"') {
      let out = '';
      i++;
      for (;;) {
        if (i >= n) fail('a string does not end');
        const ch = text[i++]!;
        if (ch === '"') break;
        if (ch === '\\') {
          if (i >= n) fail('a string does not end');
          out += text[i++];
        } else out += ch;
      }
      return out;
    }
    if (c === '[') {
      if (depth >= MAX_DEPTH) fail('lists nested too deeply');
      i++;
      const list: ConfigValue[] = [];
      skip();
      if (text[i] === ']') {
        i++;
        return list;
      }
      for (;;) {
        if (list.length >= MAX_LIST) fail(`a list of more than ${MAX_LIST} items`);
        list.push(value(depth + 1));
        skip();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return list;
        }
        fail('"," or "]" expected in a list');
      }
    }
    const m = /-?[0-9]+(?:\.[0-9]+)?/y;
    m.lastIndex = i;
    const r = m.exec(text);
    if (!r) fail(`a value was expected, found "${text.slice(i, i + 10)}"`);
    i += r![0].length;
    const v = Number(r![0]);
    if (!Number.isSafeInteger(v) && !r![0].includes('.')) fail(`number ${r![0]} is out of range`);
    return v;
  };
  const section = (depth: number, closing: boolean): ConfigSection => {
    const entries = new Map<string, ConfigValue | ConfigSection>();
    for (;;) {
      skip();
      if (i >= n) {
        if (closing) fail('a section does not end ("}" missing)');
        return { entries };
      }
      if (text[i] === '}') {
        if (!closing) fail('"}" without a section');
        i++;
        return { entries };
      }
      const key = ident();
      skip();
      if (entries.has(key)) fail(`"${key}" appears twice`);
      if (++nodes > MAX_NODES) fail(`more than ${MAX_NODES} values`);
      if (text[i] === '{') {
        if (depth >= MAX_DEPTH) fail('sections nested too deeply');
        i++;
        entries.set(key, section(depth + 1, true));
      } else if (text[i] === '=') {
        i++;
        entries.set(key, value(depth));
      } else fail(`"=" or "{" expected after "${key}"`);
    }
  };
  return section(0, false);
}

/** Typed getters for the VG model: a missing or mistyped field is a one-line corrupt error. */
export class Fields {
  constructor(readonly sec: ConfigSection, readonly where: string, readonly file: string) {}
  private bad(key: string, what: string): never {
    throw corrupt(this.file, `LVM2 metadata: ${this.where}: "${key}" ${what}`);
  }
  has(key: string): boolean {
    return this.sec.entries.has(key);
  }
  str(key: string, fallback?: string): string {
    const v = this.sec.entries.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string') this.bad(key, v === undefined ? 'is missing' : 'is not a string');
    return v as string;
  }
  int(key: string, fallback?: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.sec.entries.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.bad(key, v === undefined ? 'is missing' : 'is not an integer');
    if ((v as number) < min || (v as number) > max) this.bad(key, `is out of range (${v})`);
    return v as number;
  }
  list(key: string, fallback?: ConfigValue[]): ConfigValue[] {
    const v = this.sec.entries.get(key);
    if (v === undefined && fallback !== undefined) return fallback;
    if (!Array.isArray(v)) this.bad(key, v === undefined ? 'is missing' : 'is not a list');
    return v as ConfigValue[];
  }
  strings(key: string): string[] {
    return this.list(key, []).map((x) => (typeof x === 'string' ? x : this.bad(key, 'holds a non-string')));
  }
  section(key: string, optional = false): ConfigSection | null {
    const v = this.sec.entries.get(key);
    if (v === undefined && optional) return null;
    if (!isSection(v)) this.bad(key, v === undefined ? 'is missing' : 'is not a section');
    return v as ConfigSection;
  }
}
