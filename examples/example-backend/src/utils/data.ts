import type { Tensor } from '@slimlm/core';
import type { ExampleStorage } from '../backend';

/** The typed array behind a tensor of this backend; element `i` of a contiguous tensor is at `t.offset + i`. */
export function dataOf(t: Tensor): ExampleStorage {
  return t.storage.handle as ExampleStorage;
}
