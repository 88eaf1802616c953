// A figure as a list of drawing primitives in points (1/72 in), and its two vector renderings:
// SVG (for screens and the HTML report) and PDF (through pdfkit, for LaTeX's \includegraphics).
// One description drawn twice keeps the two formats the same figure.

export type MarkerShape = 'circle' | 'square' | 'triangle' | 'diamond' | 'triangle-down' | 'pentagon' | 'star';

export type Shape =
  | { readonly kind: 'line'; readonly points: readonly (readonly [number, number])[]; readonly color: string; readonly width: number; readonly dash?: readonly number[] }
  | { readonly kind: 'marker'; readonly shape: MarkerShape; readonly x: number; readonly y: number; readonly size: number; readonly color: string; readonly fill: string }
  | { readonly kind: 'rect'; readonly x: number; readonly y: number; readonly width: number; readonly height: number; readonly fill: string }
  | {
      readonly kind: 'text';
      readonly x: number;
      /** The baseline of the text, or its vertical middle with `middle`. */
      readonly y: number;
      readonly text: string;
      readonly size: number;
      readonly anchor: 'start' | 'middle' | 'end';
      readonly middle?: boolean;
      /** Rotated a quarter turn counter-clockwise about (x, y): a vertical axis title. */
      readonly vertical?: boolean;
      readonly color?: string;
    }
  | { readonly kind: 'image'; readonly x: number; readonly y: number; readonly width: number; readonly height: number; readonly png: Uint8Array };

export interface Figure {
  /** A short description, for the SVG's <title> and the PDF's Title. */
  readonly title: string;
  readonly width: number;
  readonly height: number;
  readonly shapes: readonly Shape[];
}

const FONT_FAMILY = 'Helvetica, Arial, "DejaVu Sans", sans-serif';
const TEXT_COLOR = '#1a1a1a';

/**
 * Width of a text in Helvetica, in points. Average advance widths of Helvetica's lowercase,
 * capitals and digits (Adobe's AFM), enough to lay out legends; renderers draw the real text.
 */
export function textWidth(text: string, size: number): number {
  let em = 0;
  for (const character of text) {
    if (/[ilj.,:;'|!()[\]]/.test(character)) em += 0.26;
    else if (/[mwMW%]/.test(character)) em += 0.85;
    else if (/[A-Z]/.test(character)) em += 0.68;
    else if (character === ' ') em += 0.28;
    else em += 0.54;
  }
  return em * size;
}

/** The outline of a marker, centred on (x, y), as polygon points (none for a circle). */
function markerPolygon(shape: Exclude<MarkerShape, 'circle'>, x: number, y: number, size: number): [number, number][] {
  const r = size / 2;
  switch (shape) {
    case 'square':
      return [[x - r * 0.85, y - r * 0.85], [x + r * 0.85, y - r * 0.85], [x + r * 0.85, y + r * 0.85], [x - r * 0.85, y + r * 0.85]];
    case 'diamond':
      return [[x, y - r * 1.15], [x + r * 1.15, y], [x, y + r * 1.15], [x - r * 1.15, y]];
    case 'triangle':
      return [[x, y - r * 1.15], [x + r, y + r * 0.75], [x - r, y + r * 0.75]];
    case 'triangle-down':
      return [[x, y + r * 1.15], [x + r, y - r * 0.75], [x - r, y - r * 0.75]];
    case 'pentagon':
      return Array.from({ length: 5 }, (_, i) => {
        const angle = -Math.PI / 2 + (i * 2 * Math.PI) / 5;
        return [x + r * 1.1 * Math.cos(angle), y + r * 1.1 * Math.sin(angle)] as [number, number];
      });
    case 'star':
      return Array.from({ length: 10 }, (_, i) => {
        const radius = i % 2 === 0 ? r * 1.3 : r * 0.55;
        const angle = -Math.PI / 2 + (i * Math.PI) / 5;
        return [x + radius * Math.cos(angle), y + radius * Math.sin(angle)] as [number, number];
      });
  }
}

// ------------------------------------------------------------------------ axes

/** Where a plot draws its data on the figure. */
export interface PlotArea {
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

export interface Axes {
  readonly area: PlotArea;
  /** Ticks at their place on the figure: grid lines and labels for y, marks and labels under the plot for x. */
  readonly xTicks: readonly { readonly x: number; readonly label: string }[];
  readonly yTicks: readonly { readonly y: number; readonly label: string }[];
  readonly xTitle: string;
  readonly yTitle: string;
  readonly font: { readonly tick: number; readonly title: number };
}

/** A plot's frame: grid lines at the y ticks, tick marks under the x axis, both axes, their labels and titles. */
export function axesShapes(axes: Axes): Shape[] {
  const { area, font } = axes;
  const shapes: Shape[] = [];
  for (const tick of axes.yTicks) {
    shapes.push({ kind: 'line', points: [[area.left, tick.y], [area.right, tick.y]], color: '#e6e6e6', width: 0.6 });
    shapes.push({ kind: 'text', x: area.left - 4, y: tick.y, text: tick.label, size: font.tick, anchor: 'end', middle: true });
  }
  for (const tick of axes.xTicks) {
    shapes.push({ kind: 'line', points: [[tick.x, area.bottom], [tick.x, area.bottom + 3]], color: TEXT_COLOR, width: 0.8 });
    shapes.push({ kind: 'text', x: tick.x, y: area.bottom + 4 + font.tick, text: tick.label, size: font.tick, anchor: 'middle' });
  }
  shapes.push(
    { kind: 'line', points: [[area.left, area.top], [area.left, area.bottom], [area.right, area.bottom]], color: TEXT_COLOR, width: 0.8 },
    { kind: 'text', x: (area.left + area.right) / 2, y: area.bottom + 8 + font.tick + font.title, text: axes.xTitle, size: font.title, anchor: 'middle' },
    { kind: 'text', x: 12, y: (area.top + area.bottom) / 2, text: axes.yTitle, size: font.title, anchor: 'middle', vertical: true },
  );
  return shapes;
}

// ------------------------------------------------------------------------ SVG

const n = (value: number) => String(Math.round(value * 100) / 100);

function xmlText(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function svgShape(shape: Shape): string {
  switch (shape.kind) {
    case 'line': {
      const dash = shape.dash ? ` stroke-dasharray="${shape.dash.map(n).join(' ')}"` : '';
      const points = shape.points.map(([x, y]) => `${n(x)},${n(y)}`).join(' ');
      return `<polyline points="${points}" fill="none" stroke="${shape.color}" stroke-width="${n(shape.width)}" stroke-linejoin="round"${dash}/>`;
    }
    case 'marker': {
      const paint = `fill="${shape.fill}" stroke="${shape.color}" stroke-width="1"`;
      if (shape.shape === 'circle') return `<circle cx="${n(shape.x)}" cy="${n(shape.y)}" r="${n(shape.size / 2)}" ${paint}/>`;
      const points = markerPolygon(shape.shape, shape.x, shape.y, shape.size).map(([x, y]) => `${n(x)},${n(y)}`).join(' ');
      return `<polygon points="${points}" ${paint}/>`;
    }
    case 'rect':
      return `<rect x="${n(shape.x)}" y="${n(shape.y)}" width="${n(shape.width)}" height="${n(shape.height)}" fill="${shape.fill}"/>`;
    case 'text': {
      const attributes = [
        `x="${n(shape.x)}"`,
        `y="${n(shape.y)}"`,
        `font-size="${n(shape.size)}"`,
        shape.anchor === 'start' ? '' : `text-anchor="${shape.anchor}"`,
        shape.middle ? 'dominant-baseline="central"' : '',
        shape.vertical ? `transform="rotate(-90 ${n(shape.x)} ${n(shape.y)})"` : '',
        shape.color ? `fill="${shape.color}"` : '',
      ].filter((attribute) => attribute !== '');
      return `<text ${attributes.join(' ')}>${xmlText(shape.text)}</text>`;
    }
    case 'image':
      return `<image x="${n(shape.x)}" y="${n(shape.y)}" width="${n(shape.width)}" height="${n(shape.height)}" style="image-rendering:pixelated" href="data:image/png;base64,${Buffer.from(shape.png).toString('base64')}"/>`;
  }
}

/** `scale`: the SVG's displayed size over its size in points (the drawing itself is unchanged). */
export function renderSvg(figure: Figure, scale = 2): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(figure.width * scale)}" height="${n(figure.height * scale)}" viewBox="0 0 ${n(figure.width)} ${n(figure.height)}">`,
    `<title>${xmlText(figure.title)}</title>`,
    `<rect width="${n(figure.width)}" height="${n(figure.height)}" fill="#ffffff"/>`,
    `<g font-family="${xmlText(FONT_FAMILY)}" fill="${TEXT_COLOR}">`,
    ...figure.shapes.map(svgShape),
    '</g>',
    '</svg>',
    '',
  ].join('\n');
}

// ------------------------------------------------------------------------ PDF

/** A fixed creation date: pdfkit derives the file ID from it, and the same figures must give the same bytes. */
const PDF_DATE = new Date(Date.UTC(2018, 0, 1));

/** One page per figure, each page the figure's size; pdfkit's standard Helvetica, nothing embedded but images. */
export async function renderPdf(figures: readonly Figure[], title: string): Promise<Uint8Array> {
  if (figures.length === 0) throw new Error('renderPdf: no figure to draw');
  const { default: PDFDocument } = await import('pdfkit');
  const document = new PDFDocument({ autoFirstPage: false, compress: true, info: { Title: title, Producer: 'passeurs', Creator: 'passeurs', CreationDate: PDF_DATE } });
  const chunks: Buffer[] = [];
  document.on('data', (chunk: Buffer) => chunks.push(chunk));
  const finished = new Promise<void>((resolve) => document.on('end', () => resolve()));
  document.font('Helvetica');
  for (const figure of figures) {
    document.addPage({ size: [figure.width, figure.height], margin: 0 });
    document.rect(0, 0, figure.width, figure.height).fill('#ffffff');
    for (const shape of figure.shapes) drawPdfShape(document, shape);
  }
  document.end();
  await finished;
  return new Uint8Array(Buffer.concat(chunks));
}

function drawPdfShape(document: PDFKit.PDFDocument, shape: Shape): void {
  switch (shape.kind) {
    case 'line': {
      document.save().lineWidth(shape.width).lineJoin('round');
      if (shape.dash) document.dash(shape.dash[0], { space: shape.dash[1] ?? shape.dash[0] });
      const [first, ...rest] = shape.points;
      document.moveTo(first[0], first[1]);
      for (const [x, y] of rest) document.lineTo(x, y);
      document.stroke(shape.color).restore();
      return;
    }
    case 'marker': {
      document.save().lineWidth(1);
      if (shape.shape === 'circle') document.circle(shape.x, shape.y, shape.size / 2);
      else document.polygon(...markerPolygon(shape.shape, shape.x, shape.y, shape.size));
      document.fillAndStroke(shape.fill, shape.color).restore();
      return;
    }
    case 'rect':
      document.rect(shape.x, shape.y, shape.width, shape.height).fill(shape.fill);
      return;
    case 'text': {
      document.save().fontSize(shape.size).fillColor(shape.color ?? TEXT_COLOR);
      const width = document.widthOfString(shape.text);
      const shift = shape.anchor === 'start' ? 0 : shape.anchor === 'middle' ? width / 2 : width;
      if (shape.vertical) document.rotate(-90, { origin: [shape.x, shape.y] });
      document.text(shape.text, shape.x - shift, shape.y, { lineBreak: false, baseline: shape.middle ? 'middle' : 'alphabetic' });
      document.restore();
      return;
    }
    case 'image':
      document.image(Buffer.from(shape.png), shape.x, shape.y, { width: shape.width, height: shape.height });
      return;
  }
}
