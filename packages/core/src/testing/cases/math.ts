import { gelu, relu, silu } from '../../ops/activation';
import { cast } from '../../ops/cast';
import {
  equal,
  greater,
  greaterEqual,
  less,
  lessEqual,
  logicalNot,
  maskedFill,
  notEqual,
  where,
} from '../../ops/compare';
import { tensor } from '../../ops/creation';
import { mul } from '../../ops/elementwise';
import {
  abs,
  clamp,
  cos,
  erf,
  exp,
  log,
  maximum,
  minimum,
  pow,
  rsqrt,
  sigmoid,
  sin,
  sqrt,
  square,
  tanh,
} from '../../ops/math';
import { transpose } from '../../ops/view';
import type { ConformanceCase } from '../conformance';
import { sample } from './core';

/** Values with ties, zeros, signs and NaN, for comparisons and masks. */
function edgeValues() {
  return tensor([0, -1.5, 2, Number.NaN, 3, -0, 7.25, -4]);
}

function edgeOther() {
  return tensor([0, 1.5, 2, Number.NaN, -3, 0, 7.5, -4]);
}

export const mathCases: ConformanceCase[] = [
  { name: 'exp', op: 'exp', build: () => exp(sample([3, 5, 7], 101)) },
  { name: 'log', op: 'log', build: () => log(sample([4, 6], 102, { positive: true })) },
  { name: 'sqrt', op: 'sqrt', build: () => sqrt(sample([4, 6], 103, { positive: true })) },
  { name: 'rsqrt', op: 'rsqrt', build: () => rsqrt(sample([4, 6], 104, { positive: true })) },
  { name: 'tanh', op: 'tanh', build: () => tanh(mul(sample([5, 7], 105), 3)) },
  { name: 'abs of a transposed view', op: 'abs', build: () => abs(transpose(sample([4, 3], 106))) },
  {
    name: 'abs of i32',
    op: 'abs',
    build: () => abs(tensor([-3, 0, 5, -2147483647], { dtype: 'i32' })),
  },
  { name: 'sin', op: 'sin', build: () => sin(mul(sample([5, 7], 107), 4)) },
  { name: 'cos', op: 'cos', build: () => cos(mul(sample([5, 7], 108), 4)) },
  { name: 'erf', op: 'erf', build: () => erf(mul(sample([5, 7], 109), 2)) },
  { name: 'sigmoid', op: 'sigmoid', build: () => sigmoid(mul(sample([5, 7], 110), 5)) },
  { name: 'square', op: 'square', build: () => square(sample([3, 4], 111)) },
  {
    name: 'pow, tensor exponent with broadcasting',
    op: 'pow',
    build: () => pow(sample([3, 4], 112, { positive: true }), sample([4], 113)),
  },
  {
    name: 'pow, number exponent',
    op: 'pow',
    build: () => [pow(sample([6], 114, { positive: true }), 2.5), pow(2, sample([6], 115))],
  },
  {
    name: 'maximum with broadcasting',
    op: 'maximum',
    build: () => maximum(sample([3, 1, 4], 116), sample([5, 1], 117)),
  },
  {
    name: 'maximum with ties and NaN',
    op: 'maximum',
    build: () => [maximum(edgeValues(), edgeOther()), maximum(edgeValues(), 0)],
  },
  {
    name: 'minimum with broadcasting',
    op: 'minimum',
    build: () => minimum(sample([3, 1, 4], 118), sample([5, 1], 119)),
  },
  {
    name: 'minimum with ties and NaN',
    op: 'minimum',
    build: () => minimum(edgeValues(), edgeOther()),
  },
  {
    name: 'clamp',
    op: 'clamp',
    build: () => [
      clamp(sample([4, 5], 120), -0.5, 0.5),
      clamp(sample([7], 121), 0),
      clamp(sample([7], 122), undefined, 0.25),
    ],
  },
  { name: 'relu', op: 'relu', build: () => [relu(sample([5, 7], 123)), relu(edgeValues())] },
  { name: 'silu', op: 'silu', build: () => silu(mul(sample([5, 7], 124), 4)) },
  { name: 'gelu (erf)', op: 'gelu', build: () => gelu(mul(sample([5, 7], 125), 3)) },
  {
    name: 'gelu (tanh)',
    op: 'gelu',
    build: () => gelu(mul(sample([5, 7], 126), 3), { approximate: 'tanh' }),
  },
  {
    name: 'equal',
    op: 'equal',
    build: () => [equal(edgeValues(), edgeOther()), equal(edgeValues(), 2)],
  },
  { name: 'notEqual', op: 'notEqual', build: () => notEqual(edgeValues(), edgeOther()) },
  {
    name: 'greater',
    op: 'greater',
    build: () => [
      greater(edgeValues(), edgeOther()),
      greater(sample([3, 4], 127), sample([4], 128)),
    ],
  },
  {
    name: 'greaterEqual',
    op: 'greaterEqual',
    build: () => greaterEqual(edgeValues(), edgeOther()),
  },
  {
    name: 'less',
    op: 'less',
    build: () => [less(edgeValues(), edgeOther()), less(sample([3, 4], 129), 0)],
  },
  { name: 'lessEqual', op: 'lessEqual', build: () => lessEqual(edgeValues(), edgeOther()) },
  { name: 'logicalNot', op: 'logicalNot', build: () => logicalNot(edgeValues()) },
  {
    name: 'where with broadcasting',
    op: 'where',
    build: () =>
      where(tensor([1, 0, 1, 1], { dtype: 'u8' }), sample([3, 4], 130), sample([3, 1], 131)),
  },
  {
    name: 'where with a number',
    op: 'where',
    build: () => where(tensor([[1], [0]], { dtype: 'u8' }), sample([2, 3], 132), -1),
  },
  {
    name: 'maskedFill with a broadcast mask',
    op: 'maskedFill',
    build: () =>
      maskedFill(
        sample([2, 3, 4], 133),
        tensor([0, 1, 1, 0], { dtype: 'u8' }),
        Number.NEGATIVE_INFINITY,
      ),
  },
  {
    name: 'cast between floats',
    op: 'cast',
    build: () => [
      cast(sample([3, 5], 134), 'f16'),
      cast(sample([3, 5], 135), 'bf16'),
      cast(cast(sample([4], 136), 'f16'), 'f32'),
    ],
  },
  {
    name: 'cast between floats and integers',
    op: 'cast',
    build: () => [
      cast(mul(sample([3, 5], 137), 50), 'i32'),
      cast(tensor([0, 1.9, 2.5, 100.99, 255]), 'u8'),
      cast(tensor([-128, -7, 0, 99], { dtype: 'i32' }), 'i8'),
      cast(tensor([-5, 0, 123456], { dtype: 'i32' }), 'f32'),
      cast(tensor([1, 0, 3], { dtype: 'u8' }), 'f16'),
    ],
  },
];
