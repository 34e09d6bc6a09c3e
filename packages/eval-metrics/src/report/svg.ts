import { SlimlmError } from '@slimlm/core';

export interface ChartPoint {
  x: number;
  y: number;
  /** Written beside the point and in its tooltip (e.g. '4-bit g128'). */
  label?: string;
}

export interface ChartSeries {
  name: string;
  points: readonly ChartPoint[];
}

export interface SvgChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  /** Pixels (default 640 × 400). */
  width?: number;
  height?: number;
  /** Logarithmic axes (values must then be > 0). */
  xLog?: boolean;
  yLog?: boolean;
  /** Join each series' points in x order (default true). */
  lines?: boolean;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2'];
const MARGIN = { left: 64, right: 24, top: 40, bottom: 52 };
const LEGEND_ROW = 16;

/** Text and attribute values with XML's five special characters escaped. */
function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

/** A coordinate with at most two decimals. */
const px = (value: number) => String(Math.round(value * 100) / 100);

/** Up to 6 significant digits, without trailing zeros. */
const formatNumber = (value: number) => String(Number(value.toPrecision(6)));

interface Axis {
  toPixel(value: number): number;
  ticks: number[];
}

/**
 * A scatter (and line) chart as a standalone SVG document, written by hand: axes with ticks and
 * grid lines, one colour per series, a legend, and every point as a circle carrying its values
 * (data-x, data-y, a <title> tooltip) so the file can be read back. For example perplexity against
 * bits or model size for the quantizations of one model.
 */
export function svgChart(options: SvgChartOptions): string {
  const {
    title,
    xLabel,
    yLabel,
    series,
    width = 640,
    height = 400,
    xLog = false,
    yLog = false,
  } = options;
  const lines = options.lines ?? true;
  checkChart(options, width, height);
  const points = series.flatMap((s) => s.points);
  const plotLeft = MARGIN.left;
  const plotRight = width - MARGIN.right;
  const plotTop = MARGIN.top + LEGEND_ROW * Math.max(0, series.length - 1);
  const plotBottom = height - MARGIN.bottom;
  const xAxis = axis(
    points.map((p) => p.x),
    xLog,
    plotLeft,
    plotRight,
  );
  const yAxis = axis(
    points.map((p) => p.y),
    yLog,
    plotBottom,
    plotTop,
  );

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${px(width / 2)}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  );
  out.push('<g class="grid" stroke="#e0e0e0" stroke-width="1">');
  for (const tick of xAxis.ticks) {
    const x = px(xAxis.toPixel(tick));
    out.push(`<line x1="${x}" y1="${px(plotTop)}" x2="${x}" y2="${px(plotBottom)}"/>`);
  }
  for (const tick of yAxis.ticks) {
    const y = px(yAxis.toPixel(tick));
    out.push(`<line x1="${px(plotLeft)}" y1="${y}" x2="${px(plotRight)}" y2="${y}"/>`);
  }
  out.push('</g>');
  out.push(
    `<g class="axes" stroke="#333333" stroke-width="1"><line x1="${px(plotLeft)}" y1="${px(plotBottom)}" x2="${px(plotRight)}" y2="${px(plotBottom)}"/><line x1="${px(plotLeft)}" y1="${px(plotTop)}" x2="${px(plotLeft)}" y2="${px(plotBottom)}"/></g>`,
  );
  out.push('<g class="ticks" fill="#333333">');
  for (const tick of xAxis.ticks) {
    out.push(
      `<text x="${px(xAxis.toPixel(tick))}" y="${px(plotBottom + 16)}" text-anchor="middle">${formatNumber(tick)}</text>`,
    );
  }
  for (const tick of yAxis.ticks) {
    out.push(
      `<text x="${px(plotLeft - 6)}" y="${px(yAxis.toPixel(tick) + 4)}" text-anchor="end">${formatNumber(tick)}</text>`,
    );
  }
  out.push('</g>');
  out.push(
    `<text class="x-label" x="${px((plotLeft + plotRight) / 2)}" y="${px(height - 12)}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text class="y-label" x="16" y="${px((plotTop + plotBottom) / 2)}" text-anchor="middle" transform="rotate(-90 16 ${px((plotTop + plotBottom) / 2)})">${escapeXml(yLabel)}</text>`,
  );
  for (const [index, s] of series.entries()) {
    const color = PALETTE[index % PALETTE.length]!;
    out.push(
      `<g class="series" data-name="${escapeXml(s.name)}" fill="${color}" stroke="${color}">`,
    );
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    if (lines && sorted.length > 1) {
      const path = sorted
        .map((p) => `${px(xAxis.toPixel(p.x))},${px(yAxis.toPixel(p.y))}`)
        .join(' ');
      out.push(`<polyline fill="none" stroke-width="1.5" points="${path}"/>`);
    }
    for (const p of s.points) {
      const cx = px(xAxis.toPixel(p.x));
      const cy = px(yAxis.toPixel(p.y));
      const tip = `${p.label ? `${p.label}: ` : ''}${formatNumber(p.x)}, ${formatNumber(p.y)}`;
      out.push(
        `<circle cx="${cx}" cy="${cy}" r="4" data-x="${p.x}" data-y="${p.y}"><title>${escapeXml(`${s.name} ${tip}`)}</title></circle>`,
      );
      if (p.label) {
        out.push(
          `<text x="${px(Number(cx) + 7)}" y="${px(Number(cy) - 7)}" stroke="none" font-size="11">${escapeXml(p.label)}</text>`,
        );
      }
    }
    out.push('</g>');
  }
  out.push('<g class="legend">');
  for (const [index, s] of series.entries()) {
    const color = PALETTE[index % PALETTE.length]!;
    const y = MARGIN.top - 8 + index * LEGEND_ROW;
    out.push(
      `<circle cx="${px(plotRight - 150)}" cy="${px(y - 4)}" r="4" fill="${color}"/><text x="${px(plotRight - 140)}" y="${px(y)}">${escapeXml(s.name)}</text>`,
    );
  }
  out.push('</g>', '</svg>');
  return `${out.join('\n')}\n`;
}

function checkChart(options: SvgChartOptions, width: number, height: number): void {
  const invalid = (message: string) => new SlimlmError('INVALID_ARGUMENT', `svgChart: ${message}`);
  if (!(width >= 200 && height >= 150))
    throw invalid(`the chart must be at least 200 × 150, got ${width} × ${height}`);
  if (options.series.length === 0 || options.series.every((s) => s.points.length === 0)) {
    throw invalid('no points to draw');
  }
  for (const s of options.series) {
    for (const p of s.points) {
      if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) {
        throw invalid(`series '${s.name}' has a point (${p.x}, ${p.y}) that is not finite`);
      }
      if ((options.xLog && p.x <= 0) || (options.yLog && p.y <= 0)) {
        throw invalid(
          `series '${s.name}' has a point (${p.x}, ${p.y}) that a logarithmic axis cannot show`,
        );
      }
    }
  }
}

/** A linear or logarithmic axis over the values, padded by 5 %, with ticks at round numbers. */
function axis(values: readonly number[], log: boolean, from: number, to: number): Axis {
  const f = log ? Math.log10 : (v: number) => v;
  let low = Math.min(...values.map(f));
  let high = Math.max(...values.map(f));
  if (high === low) {
    const spread = log ? 0.5 : Math.abs(low) * 0.1 || 1;
    low -= spread;
    high += spread;
  }
  const pad = (high - low) * 0.05;
  low -= pad;
  high += pad;
  const toPixel = (value: number) => from + ((f(value) - low) / (high - low)) * (to - from);
  const ticks = log ? logTicks(low, high) : linearTicks(low, high);
  return { toPixel, ticks };
}

function linearTicks(low: number, high: number): number[] {
  const raw = (high - low) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

/**
 * Powers of ten inside [10^low, 10^high]; 1, 2 and 5 times them when fewer than three fit; round
 * linear steps when the range is narrower than that.
 */
function logTicks(low: number, high: number): number[] {
  const decades: number[] = [];
  for (let e = Math.floor(low); e <= Math.ceil(high); e++) decades.push(e);
  const within = (v: number) => Math.log10(v) >= low && Math.log10(v) <= high;
  const powers = decades.map((e) => 10 ** e).filter(within);
  if (powers.length >= 3) return powers;
  const steps = decades
    .flatMap((e) => [1, 2, 5].map((m) => Number((m * 10 ** e).toPrecision(12))))
    .filter(within);
  return steps.length >= 3 ? steps : linearTicks(10 ** low, 10 ** high).filter((v) => v > 0);
}
