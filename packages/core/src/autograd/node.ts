import { Tensor } from '../tensor';

/** An input as the tape saved it: an alias that keeps its storage alive until backward. */
export interface SavedInput {
  /** Shares storage and graph position with the input; disposing the original does not free it. */
  readonly saved: Tensor;
  /** The input itself when it is a leaf that requires a gradient: `.grad` accumulates there. */
  readonly leaf: Tensor | null;
  readonly requiresGrad: boolean;
}

let nextNodeId = 0;

/**
 * One recorded op. A node lives while a tensor it produced, or a later node that consumed one, is
 * alive; then (or after backward without retainGraph) it frees the tensors it saved.
 */
export class GradNode {
  /** Increasing in creation order, so descending ids are a reverse topological order. */
  readonly id = nextNodeId++;
  released = false;
  private references = 0;

  constructor(
    readonly op: string,
    readonly attrs: unknown,
    readonly inputs: readonly SavedInput[],
    readonly outputs: readonly Tensor[],
  ) {}

  addReference(): void {
    this.references++;
  }

  dropReference(): void {
    this.references--;
    if (this.references === 0) this.release();
  }

  /** Frees what the node saved; it can no longer be backpropagated through. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const input of this.inputs) input.saved.dispose();
    for (const output of this.outputs) output.dispose();
  }
}

/** An untracked handle on the same storage and graph position as `tensor`. */
export function alias(tensor: Tensor, withGraph: boolean): Tensor {
  const copy = new Tensor(
    tensor.storage,
    tensor.shape,
    tensor.strides,
    tensor.offset,
    tensor.dtype,
  );
  if (withGraph && tensor.gradNode) attachNode(copy, tensor.gradNode, tensor.outputIndex);
  if (tensor.requiresGrad) copy.requiresGrad = true;
  return copy;
}

export function attachNode(tensor: Tensor, node: GradNode, outputIndex: number): void {
  node.addReference();
  tensor.gradNode = node;
  tensor.outputIndex = outputIndex;
}
