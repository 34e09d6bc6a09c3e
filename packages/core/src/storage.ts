import type { Backend } from './backend';
import { bytesPerElement, type DType } from './dtype';
import { countBytes } from './memory';

/** A backend allocation shared by a tensor and its views; freed when the last of them goes. */
export class Storage {
  private references = 0;

  private constructor(
    readonly backend: Backend,
    readonly handle: unknown,
    readonly dtype: DType,
    readonly length: number,
  ) {}

  static allocate(backend: Backend, dtype: DType, length: number): Storage {
    const storage = new Storage(backend, backend.allocate(dtype, length), dtype, length);
    countBytes(backend.name, storage.byteLength);
    return storage;
  }

  get byteLength(): number {
    return this.length * bytesPerElement(this.dtype);
  }

  retain(): this {
    this.references++;
    return this;
  }

  release(): void {
    this.references--;
    if (this.references === 0) {
      this.backend.free(this.handle);
      countBytes(this.backend.name, -this.byteLength);
    }
  }
}
