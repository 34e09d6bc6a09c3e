/**
 * Visits every index of `shape` in row-major order, passing the matching storage positions of
 * two strided layouts over it (strides may be anything, 0 included). The shared loop of `copy`
 * (source and target views) and `sum` (input and the reduced output).
 */
export function walk(
  shape: readonly number[],
  a: { strides: readonly number[]; offset: number },
  b: { strides: readonly number[]; offset: number },
  visit: (positionA: number, positionB: number) => void,
): void {
  const step = (axis: number, positionA: number, positionB: number): void => {
    if (axis === shape.length) {
      visit(positionA, positionB);
      return;
    }
    const strideA = a.strides[axis]!;
    const strideB = b.strides[axis]!;
    for (let i = 0; i < shape[axis]!; i++)
      step(axis + 1, positionA + i * strideA, positionB + i * strideB);
  };
  step(0, a.offset, b.offset);
}
