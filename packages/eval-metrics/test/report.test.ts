import { SlimlmError } from '@slimlm/core';
import { describe, expect, test } from 'vitest';
import { markdownTable, svgChart } from '../src/index';

describe('markdownTable', () => {
  test('right-aligns numeric columns, escapes pipes and line breaks, leaves missing cells empty', () => {
    expect(
      markdownTable(
        ['quantization', 'bits', 'ppl'],
        [
          ['fp16', 16, 107.285],
          ['gptq | g128\nsym', 4, undefined],
        ],
      ),
    ).toBe(
      [
        '| quantization | bits | ppl |',
        '| --- | ---: | ---: |',
        '| fp16 | 16 | 107.285 |',
        '| gptq \\| g128 sym | 4 |  |',
      ].join('\n'),
    );
    expect(() => markdownTable(['a', 'b'], [['x']])).toThrow(/row 0 has 1 cells for 2 columns/);
  });
});

interface Element {
  name: string;
  attributes: Record<string, string>;
  children: Element[];
  text: string;
}

const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

/**
 * A strict reader of the XML subset an SVG file uses (elements, attributes in double quotes,
 * text, the five entities): it throws on anything not well-formed, and returns the element tree.
 */
function parseXml(source: string): Element {
  const root: Element = { name: '#document', attributes: {}, children: [], text: '' };
  const stack: Element[] = [root];
  const token = /<\/?([A-Za-z][\w:.-]*)((?:\s+[A-Za-z][\w:.-]*="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let match: RegExpExecArray | null;
  let position = 0;
  // biome-ignore lint/suspicious/noAssignInExpressions: the scanner's loop
  while ((match = token.exec(source)) !== null) {
    position = token.lastIndex;
    const [whole, name, attributeText, selfClosing, text] = match;
    const parent = stack.at(-1)!;
    if (text !== undefined) {
      if (text.replace(ENTITY, '').includes('&')) throw new Error(`raw & in text: ${text}`);
      parent.text += text;
      continue;
    }
    if (whole.startsWith('</')) {
      if (parent.name !== name) throw new Error(`</${name}> closes <${parent.name}>`);
      stack.pop();
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const [, key, value] of attributeText!.matchAll(/([A-Za-z][\w:.-]*)="([^"]*)"/g)) {
      if (key! in attributes) throw new Error(`attribute ${key} repeated`);
      if (value!.replace(ENTITY, '').includes('&')) throw new Error(`raw & in ${key}`);
      attributes[key!] = value!;
    }
    const element: Element = { name: name!, attributes, children: [], text: '' };
    parent.children.push(element);
    if (!selfClosing) stack.push(element);
  }
  if (position !== source.length) throw new Error(`not XML at offset ${position}`);
  if (stack.length !== 1) throw new Error(`<${stack.at(-1)!.name}> is never closed`);
  if (root.text.trim() !== '' || root.children.length !== 1)
    throw new Error('one root element expected');
  return root.children[0]!;
}

function all(element: Element, name: string): Element[] {
  return [
    ...(element.name === name ? [element] : []),
    ...element.children.flatMap((child) => all(child, name)),
  ];
}

const QUANTIZATIONS = {
  title: 'wikillama: perplexity vs size <GPTQ & RTN>',
  xLabel: 'model size (MB)',
  yLabel: 'WikiText-2 perplexity',
  series: [
    {
      name: 'GPTQ',
      points: [
        { x: 3.1, y: 112.4, label: '4-bit g128' },
        { x: 2.4, y: 131.9, label: '3-bit g128' },
        { x: 1.8, y: 260.5, label: '2-bit "g64"' },
      ],
    },
    { name: 'RTN', points: [{ x: 3.1, y: 118.0 }] },
    { name: 'fp16', points: [{ x: 13.6, y: 107.285, label: 'fp16' }] },
  ],
};

describe('svgChart', () => {
  test('is well-formed SVG holding every point, series and label', () => {
    const svg = svgChart(QUANTIZATIONS);
    const root = parseXml(svg.trim());
    expect(root.name).toBe('svg');
    expect(root.attributes.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(root.attributes.viewBox).toBe('0 0 640 400');
    expect(all(root, 'title')[0]!.text).toBe(
      'wikillama: perplexity vs size &lt;GPTQ &amp; RTN&gt;',
    );
    const series = all(root, 'g').filter((g) => g.attributes.class === 'series');
    expect(series.map((g) => g.attributes['data-name'])).toEqual(['GPTQ', 'RTN', 'fp16']);
    for (const [index, group] of series.entries()) {
      const points = QUANTIZATIONS.series[index]!.points;
      const circles = all(group, 'circle');
      expect(
        circles.map((c) => [Number(c.attributes['data-x']), Number(c.attributes['data-y'])]),
      ).toEqual(points.map((p) => [p.x, p.y]));
      // Inside the drawing.
      for (const c of circles) {
        expect(Number(c.attributes.cx)).toBeGreaterThan(0);
        expect(Number(c.attributes.cx)).toBeLessThan(640);
        expect(Number(c.attributes.cy)).toBeGreaterThan(0);
        expect(Number(c.attributes.cy)).toBeLessThan(400);
      }
    }
    // Larger perplexity is drawn higher up (smaller y); larger size further right.
    const gptq = all(series[0]!, 'circle').map((c) => [
      Number(c.attributes.cx),
      Number(c.attributes.cy),
    ]);
    expect(gptq[2]![1]!).toBeLessThan(gptq[0]![1]!);
    expect(gptq[0]![0]!).toBeGreaterThan(gptq[2]![0]!);
    // One line per series with more than one point, through its points in x order.
    expect(all(series[0]!, 'polyline')).toHaveLength(1);
    expect(all(series[1]!, 'polyline')).toHaveLength(0);
    const texts = all(root, 'text').map((t) => t.text);
    expect(texts).toContain('2-bit &quot;g64&quot;');
    expect(texts).toContain('model size (MB)');
    expect(texts).toContain('WikiText-2 perplexity');
  });

  test('log axes tick at powers of ten; bad input is refused', () => {
    const yTicks = (options: Parameters<typeof svgChart>[0]) =>
      all(parseXml(svgChart(options).trim()), 'g')
        .find((g) => g.attributes.class === 'ticks')!
        .children.filter((t) => t.attributes['text-anchor'] === 'end')
        .map((t) => t.text);
    const decades = [{ name: 'ppl', points: [1, 30, 1000].map((y, x) => ({ x, y })) }];
    expect(yTicks({ ...QUANTIZATIONS, series: decades, yLog: true, width: 800 })).toEqual([
      '1',
      '10',
      '100',
      '1000',
    ]);
    // A range narrower than a decade still gets round ticks.
    expect(yTicks({ ...QUANTIZATIONS, yLog: true })).toEqual(['150', '200', '250']);
    const refuse = (options: Parameters<typeof svgChart>[0], pattern: RegExp) => {
      let error: unknown;
      try {
        svgChart(options);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SlimlmError);
      expect((error as Error).message).toMatch(pattern);
    };
    refuse({ ...QUANTIZATIONS, series: [] }, /no points to draw/);
    refuse(
      { ...QUANTIZATIONS, series: [{ name: 's', points: [{ x: 1, y: Number.NaN }] }] },
      /not finite/,
    );
    refuse(
      { ...QUANTIZATIONS, xLog: true, series: [{ name: 's', points: [{ x: 0, y: 1 }] }] },
      /logarithmic axis/,
    );
  });
});
