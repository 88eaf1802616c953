// Command lines shown to the user (hints, the history) in a form a POSIX shell reads back as is.

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** The word unchanged when the shell would not alter it, else single-quoted. */
export function quoteForShell(word: string): string {
  return SAFE_WORD.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(words: readonly string[]): string {
  return words.map(quoteForShell).join(' ');
}

/** `--set a=1 --set 'b=[1, 2]'`: overrides as they are typed. */
export function setOptions(overrides: readonly string[]): string[] {
  return overrides.flatMap((override) => ['--set', override]);
}
