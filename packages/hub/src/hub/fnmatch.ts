/**
 * Python's `fnmatch.translate`: `*` matches any run of characters (slashes included), `?` one
 * character, `[seq]` / `[!seq]` a set; the whole path must match.
 */
export function fnmatchToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      source += '.*';
    } else if (c === '?') {
      source += '.';
    } else if (c === '[') {
      let j = i + 1;
      if (pattern[j] === '!') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j++;
      if (j >= pattern.length) {
        source += '\\[';
      } else {
        let set = pattern.slice(i + 1, j).replace(/\\/g, '\\\\');
        if (set.startsWith('!')) set = `^${set.slice(1)}`;
        else if (set.startsWith('^')) set = `\\${set}`;
        source += `[${set}]`;
        i = j;
      }
    } else {
      source += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    }
  }
  return new RegExp(`^(?:${source})$`, 's');
}

/**
 * huggingface_hub's `filter_repo_objects`: keep paths matching any allow pattern (all when none is
 * given) and no ignore pattern; a pattern ending in `/` means everything under that folder.
 */
export function filterPaths(
  paths: readonly string[],
  allowPatterns?: readonly string[],
  ignorePatterns?: readonly string[],
): string[] {
  const compile = (patterns: readonly string[]) =>
    patterns.map((p) => fnmatchToRegExp(p.endsWith('/') ? `${p}*` : p));
  const allow = allowPatterns ? compile(allowPatterns) : undefined;
  const ignore = compile(ignorePatterns ?? []);
  return paths.filter(
    (path) =>
      (allow === undefined || allow.some((re) => re.test(path))) &&
      !ignore.some((re) => re.test(path)),
  );
}
