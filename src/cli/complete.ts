/**
 * Shell completion (bash, zsh, fish) and the man page, both read from the commander
 * definitions, so they list every command and option there is.
 *
 * `diskpick completion SHELL` prints a script; the script asks the hidden
 * `diskpick __complete INDEX WORD…` (the words of the command line, INDEX the one being
 * completed) for candidates, one per line. A first line `:files` or `:dirs` asks the shell to
 * complete host files or folders itself; anything else is the candidates: commands, options,
 * or paths inside the image (opened read-only, as every command does).
 */
import type { Command, Option } from 'commander';
import { DiskpickError } from '../errors.js';

/** Options whose value is one of a few words. */
const VALUE_WORDS: Record<string, string[]> = {
  '--hash': ['sha256', 'sha1', 'md5'],
  '--streams': ['siblings', 'xattr'],
  '--type': ['f', 'd', 'l', 'c', 'b', 'p', 's'],
};

/** Commands whose arguments are host folders (mount's second, umount's first). */
const HOST_DIR_ARGS: Record<string, number[]> = { mount: [1], umount: [0], unmount: [0] };

function takesValue(o: Option): boolean {
  return o.required || o.optional;
}

function findOption(opts: readonly Option[], word: string): Option | undefined {
  const flag = word.includes('=') ? word.slice(0, word.indexOf('=')) : word;
  return opts.find((o) => o.long === flag || o.short === flag);
}

function visibleCommands(program: Command): Command[] {
  return program.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden && !c.name().startsWith('__'));
}

function optionNames(opts: readonly Option[]): string[] {
  return opts.filter((o) => !o.hidden).flatMap((o) => [o.long, o.short].filter((x): x is string => !!x));
}

export type Completion = { kind: 'words'; words: string[] } | { kind: 'files' } | { kind: 'dirs' } | { kind: 'image'; image: string; prefix: string };

/**
 * What to offer for word `index` of `words` (words[0] is "diskpick"). Pure: the caller lists
 * the image for `image`.
 */
export function completionFor(program: Command, words: string[], index: number): Completion {
  const cur = words[index] ?? '';
  const global = program.options;
  let cmd: Command | null = null;
  const positionals: string[] = [];
  let afterDashes = false;
  for (let i = 1; i < index; i++) {
    const w = words[i]!;
    if (!afterDashes && w === '--') {
      afterDashes = true;
      continue;
    }
    if (!afterDashes && w.startsWith('-') && w !== '-') {
      const o = findOption([...(cmd?.options ?? []), ...global], w);
      if (o && takesValue(o) && !w.includes('=')) i++;
      continue;
    }
    if (!cmd) {
      cmd = program.commands.find((c) => c.name() === w || c.aliases().includes(w)) ?? null;
      if (!cmd) return { kind: 'words', words: [] };
      continue;
    }
    positionals.push(w);
  }
  // The value of an option.
  const prev = index > 1 ? words[index - 1]! : '';
  if (prev.startsWith('-') && !prev.includes('=')) {
    const o = findOption([...(cmd?.options ?? []), ...global], prev);
    if (o && takesValue(o)) {
      const choices = o.argChoices ?? VALUE_WORDS[o.long ?? ''];
      if (choices) return { kind: 'words', words: choices.filter((c) => c.startsWith(cur)) };
      if (o.long === '--output' || o.long === '--parent-dir') return { kind: 'dirs' };
      return { kind: 'files' };
    }
  }
  if (!cmd) {
    if (cur.startsWith('-')) return { kind: 'words', words: optionNames(global).filter((n) => n.startsWith(cur)) };
    return { kind: 'words', words: visibleCommands(program).map((c) => c.name()).filter((n) => n.startsWith(cur)) };
  }
  if (cur.startsWith('-') && !afterDashes) return { kind: 'words', words: [...optionNames(cmd.options), '--help', ...optionNames(global)].filter((n, i, a) => n.startsWith(cur) && a.indexOf(n) === i) };
  const n = positionals.length;
  if (HOST_DIR_ARGS[cmd.name()]?.includes(n)) return { kind: 'dirs' };
  const args = cmd.registeredArguments;
  if (n === 0 || args.length === 0) return { kind: 'files' };
  // versions/diff take several images: a word that does not look like a path inside one is a file.
  if (args[0]!.variadic || cmd.name() === 'diff') {
    if (!/^([/\\]|[A-Za-z]:)/.test(cur)) return { kind: 'files' };
  }
  return { kind: 'image', image: positionals[0]!, prefix: cur };
}

/**
 * Paths inside the image starting with `prefix`: the folder part is looked up, its names
 * listed; folders end with "/" (or "\" when the user types backslashes).
 */
export async function imageCandidates(image: string, prefix: string, open: (image: string) => Promise<{ lookup(p: string): Promise<{ path: string }>; listNames(p: string): Promise<{ name: string; dir: boolean }[]>; close(): Promise<void> }>): Promise<string[]> {
  const sep = !prefix.includes('/') && prefix.includes('\\') ? '\\' : '/';
  const cut = Math.max(prefix.lastIndexOf(sep), /^[A-Za-z]:$/.test(prefix) ? prefix.length : -1);
  const folder = cut < 0 ? '' : prefix.slice(0, cut + 1);
  const start = cut < 0 ? prefix : prefix.slice(cut + 1);
  const v = await open(image);
  try {
    const names = await v.listNames(folder === '' ? '/' : folder);
    const base = folder === '' ? '/' : folder.endsWith(sep) || /^[A-Za-z]:$/.test(folder) ? folder : folder + sep;
    return names
      .filter((e) => e.name.startsWith(start))
      .map((e) => `${base}${e.name}${e.dir ? sep : ''}`)
      .slice(0, 2000);
  } finally {
    await v.close();
  }
}

export function completionScript(shell: string): string {
  if (shell === 'bash') return BASH;
  if (shell === 'zsh') return ZSH;
  if (shell === 'fish') return FISH;
  throw new DiskpickError('usage', `no completion for shell "${shell}" (bash, zsh, fish)`);
}

const BASH = `# diskpick completion for bash: source <(diskpick completion bash)
# (or save it as /usr/share/bash-completion/completions/diskpick)
_diskpick() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" IFS=$'\\n' out first
  out=$(diskpick __complete "$COMP_CWORD" "\${COMP_WORDS[@]}" 2>/dev/null) || return 0
  first=\${out%%$'\\n'*}
  case "$first" in
    :files) COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null ;;
    :dirs) COMPREPLY=($(compgen -d -- "$cur")); compopt -o filenames 2>/dev/null ;;
    *) COMPREPLY=($out)
       [[ \${#COMPREPLY[@]} -eq 1 && \${COMPREPLY[0]} == */ ]] && compopt -o nospace 2>/dev/null ;;
  esac
  return 0
}
complete -F _diskpick diskpick
`;

const ZSH = `#compdef diskpick
# diskpick completion for zsh: source <(diskpick completion zsh), or save as _diskpick in $fpath
_diskpick() {
  local -a lines
  lines=("\${(@f)$(diskpick __complete $((CURRENT - 1)) "\${words[@]}" 2>/dev/null)}")
  case "\${lines[1]}" in
    :files) _files ;;
    :dirs) _files -/ ;;
    *) local -a dirs plain; local l
       for l in "\${lines[@]}"; do [[ -z $l ]] && continue; if [[ $l == */ ]]; then dirs+=("$l"); else plain+=("$l"); fi; done
       (( \${#plain} )) && compadd -Q -- "\${plain[@]}"
       (( \${#dirs} )) && compadd -Q -S '' -- "\${dirs[@]}" ;;
  esac
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _diskpick "$@"; else compdef _diskpick diskpick; fi
`;

const FISH = `# diskpick completion for fish: diskpick completion fish | source
# (or save it as ~/.config/fish/completions/diskpick.fish)
function __diskpick_complete
  set -l words (commandline -opc)
  set -l cur (commandline -ct)
  set -l out (diskpick __complete (count $words) $words "$cur" 2>/dev/null)
  switch "$out[1]"
    case ':files'
      __fish_complete_path (commandline -ct)
    case ':dirs'
      __fish_complete_directories (commandline -ct)
    case '*'
      printf '%s\\n' $out
  end
end
complete -c diskpick -f -a '(__diskpick_complete)'
`;
