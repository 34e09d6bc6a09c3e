/**
 * The error function and its complement in f64, with relative error below 1e-14 everywhere: a
 * series without cancellation near zero, and a continued fraction for the tail, where `1 - erf`
 * would lose every digit of erfc.
 */

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const ONE_OVER_SQRT_PI = 1 / Math.sqrt(Math.PI);

/**
 * Below this |x| the series is used; above it erfc is at most 0.157, so `1 - erfc` costs erf no
 * accuracy, and the continued fraction needs under 200 steps.
 */
const SERIES_LIMIT = 1;

/**
 * exp(-x^2) without the rounding error of x^2, which exp would magnify by x^2 for large x: x is
 * split into a head with few bits (whose square is exact) and a small tail.
 */
function expMinusSquare(x: number): number {
  const head = Math.trunc(x * 65536) / 65536;
  return Math.exp(-head * head) * Math.exp(-(x - head) * (x + head));
}

/** erf(x) = 2x/sqrt(pi) e^(-x^2) sum (2x^2)^n / (1*3*...*(2n+1)): all terms positive. */
function erfSeries(x: number): number {
  const twiceSquare = 2 * x * x;
  let term = 1;
  let sum = 1;
  for (let n = 1; term > 1e-17 * sum; n++) {
    term *= twiceSquare / (2 * n + 1);
    sum += term;
  }
  return TWO_OVER_SQRT_PI * x * Math.exp(-x * x) * sum;
}

/**
 * erfc(x) for x >= SERIES_LIMIT from Laplace's continued fraction
 * erfc(x) = e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), by Lentz's method.
 */
function erfcContinuedFraction(x: number): number {
  if (x === Number.POSITIVE_INFINITY) return 0;
  let value = x;
  let numerator = x;
  let denominatorInverse = 0;
  for (let n = 1; n < 1000; n++) {
    const a = n / 2;
    denominatorInverse = 1 / (x + a * denominatorInverse);
    numerator = x + a / numerator;
    const step = numerator * denominatorInverse;
    value *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return (ONE_OVER_SQRT_PI * expMinusSquare(x)) / value;
}

export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const magnitude = Math.abs(x);
  if (magnitude < SERIES_LIMIT) return erfSeries(x);
  const result = 1 - erfcContinuedFraction(magnitude);
  return x < 0 ? -result : result;
}

/** 1 - erf(x), accurate also where it is tiny (large x). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return x;
  if (x < SERIES_LIMIT) return 1 - erf(x);
  return erfcContinuedFraction(x);
}
