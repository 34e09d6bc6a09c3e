import {
  bytesPerElement,
  contiguousStrides,
  type DType,
  getKernel,
  type KernelArgs,
  registerKernel,
  SlimlmError,
  type Tensor,
} from '@slimlm/core';
import type { DeviceBuffer } from '../backend';
import { fromNative } from '../errors';
import type { Address, NativeAddon } from '../native';
import { collapse } from './layout';

/** Element type codes of native/common/dtype.h. */
export const DTYPE_CODES: Partial<Record<DType, number>> = {
  f32: 0,
  f16: 1,
  bf16: 2,
  i32: 3,
  u8: 4,
};

export const FLOATS: readonly DType[] = ['f32', 'f16', 'bf16'];

export function isFloat(dtype: DType): boolean {
  return FLOATS.includes(dtype);
}

/** A device view of elements: where it starts, its dtype, shape and strides (in elements). */
export interface View {
  address: Address;
  dtype: DType;
  shape: readonly number[];
  strides: readonly number[];
}

/** The view a tensor on a GPU backend is: its storage's address plus its offset. */
export function viewOf(t: Tensor): View {
  const buffer = t.storage.handle as DeviceBuffer;
  return {
    address: buffer.address + t.offset * bytesPerElement(t.dtype),
    dtype: t.dtype,
    shape: t.shape,
    strides: t.strides,
  };
}

export function isDense(view: View): boolean {
  const expected = contiguousStrides(view.shape);
  return view.shape.every((d, i) => d <= 1 || view.strides[i] === expected[i]);
}

/**
 * Device memory a kernel needs for the length of one call (contiguous copies of its inputs,
 * workspaces), given back when the call ends. Every kernel runs on the device's one stream, so
 * memory freed after the launches is only reused by work queued after them.
 */
export class Temporaries {
  private readonly addresses: Address[] = [];

  constructor(private readonly addon: NativeAddon) {}

  allocate(dtype: DType, length: number): Address {
    const address = this.addon.allocate(length * bytesPerElement(dtype));
    this.addresses.push(address);
    return address;
  }

  /**
   * `view` with unit strides in row-major order, starting at a multiple of `alignment` bytes:
   * itself when it is, else a copy (fresh blocks are 512-byte aligned).
   */
  dense(view: View, alignment = 1): View {
    if (isDense(view) && view.address % alignment === 0) return view;
    const size = view.shape.reduce((a, b) => a * b, 1);
    const copy: View = {
      address: this.allocate(view.dtype, size),
      dtype: view.dtype,
      shape: view.shape,
      strides: contiguousStrides(view.shape),
    };
    runCopy(this.addon, copy, view);
    return copy;
  }

  release(): void {
    for (const address of this.addresses) this.addon.free(address);
    this.addresses.length = 0;
  }
}

/** dst = src, raw elements between two views of one shape and dtype (any strides on both). */
export function runCopy(addon: NativeAddon, dst: View, src: View): void {
  addon.copy({
    layout: collapse('copy', dst.shape, [dst.strides, src.strides]),
    dst: dst.address,
    src: src.address,
    elementBytes: bytesPerElement(dst.dtype),
  });
}

export function unsupportedDType(
  op: string,
  dtype: DType,
  supported: readonly DType[],
): SlimlmError {
  return new SlimlmError(
    'UNSUPPORTED_DTYPE',
    `${op}: the cuda kernel takes ${supported.join(', ')}, got ${dtype}; cast first or run it on another backend`,
  );
}

/** Throws UNSUPPORTED_DTYPE unless every tensor's dtype is in `supported`. */
export function expectDTypes(
  op: string,
  tensors: readonly Tensor[],
  supported: readonly DType[],
): void {
  for (const t of tensors)
    if (!supported.includes(t.dtype)) throw unsupportedDType(op, t.dtype, supported);
}

/** The ops registerCuda registered, per backend ("cuda", "rocm"). */
const registered = new Map<string, Set<string>>();

/** The ops whose kernels the glue registered for `backend`, sorted (empty before any). */
export function registeredOps(backend: string): string[] {
  return [...(registered.get(backend) ?? [])].sort();
}

/** What a kernel's glue gets: the kernel's arguments, the addon and the call's temporaries. */
export interface CudaKernelContext<A> {
  args: KernelArgs<A>;
  addon: NativeAddon;
  temps: Temporaries;
}

/**
 * Registers the kernel of `op` for the addon's backend ("cuda" or "rocm"): `fn` checks what the
 * native kernel takes, launches it and may use temporaries, released when it returns. A runtime
 * failure becomes a CudaError naming the op.
 */
export function registerCuda<A>(
  addon: NativeAddon,
  op: string,
  fn: (context: CudaKernelContext<A>) => void,
): void {
  if (getKernel(op, 'reference') === undefined)
    throw new Error(`@slimlm/kernels-cuda: core has no op '${op}'`);
  const backend = addon.capabilities().backend;
  registered.set(backend, (registered.get(backend) ?? new Set()).add(op));
  registerKernel<A>({
    op,
    backend,
    fn: (args) => {
      const temps = new Temporaries(addon);
      try {
        fn({ args, addon, temps });
      } catch (error) {
        throw fromNative(error, `${op} on ${backend}`);
      } finally {
        temps.release();
      }
    },
  });
}
