// What the report's tables (report/tables.ts) and the auditor's (report/audit-tables.ts) share:
// numbers as cell text, and rows of cells as Markdown, CSV and a LaTeX booktabs tabular.

/** `digits` decimals, without the sign of a value that rounds to zero; '' where the value is missing. */
export function fixed(value: number | null, digits: number): string {
  if (value === null) return '';
  const text = value.toFixed(digits);
  return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
}

export const percent = (fraction: number | null, digits = 1) => fixed(fraction === null ? null : fraction * 100, digits);

/** One decimal, with its sign ('+' above zero). */
export function signedPoints(points: number | null): string {
  const text = fixed(points, 1);
  return text === '' || text.startsWith('-') || Number(text) === 0 ? text : `+${text}`;
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], alignments: readonly string[]): string[] {
  const line = (cells: readonly string[]) => `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), line(alignments), ...rows.map(line)];
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => cells.map(csvField).join(',');
  return [line(header), ...rows.map(line), ''].join('\n');
}

/** Text with TeX's special characters escaped, and the tables' |Δ| as math. */
export function latexText(text: string): string {
  return text
    .replace(/[\\{}&%#_$]/g, (character) => (character === '\\' ? '\\textbackslash{}' : `\\${character}`))
    .replaceAll('|Δ|', '$|\\Delta|$');
}

export const latexRow = (cells: readonly string[]) => `${cells.join(' & ')} \\\\`;

/**
 * A booktabs tabular (needs \usepackage{booktabs}), to \input inside the reader's own table
 * environment; `header` lines and `cells` already in LaTeX.
 */
export function booktabsTabular(alignment: string, header: readonly string[], cells: readonly (readonly string[])[]): string {
  return [
    '% requires \\usepackage{booktabs}',
    `\\begin{tabular}{${alignment}}`,
    '\\toprule',
    ...header,
    '\\midrule',
    ...cells.map(latexRow),
    '\\bottomrule',
    '\\end{tabular}',
    '',
  ].join('\n');
}
