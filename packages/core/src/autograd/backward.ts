import { SlimlmError } from '../errors';
import { getGradient } from '../kernels';
import { keep, scope } from '../memory';
import { onesLike, zeros } from '../ops/creation';
import { add } from '../ops/elementwise';
import { contiguous } from '../ops/view';
import { formatShape, shapesEqual } from '../shape';
import { setBackwardHook, Tensor } from '../tensor';
import type { GradNode } from './node';
import { noGrad } from './tape';

export interface BackwardOptions {
  /** Gradient of the root; required unless the root has one element. */
  gradient?: Tensor;
  /** Keep the saved tensors so that the graph can be backpropagated through again. */
  retainGraph?: boolean;
}

/** Where a gradient lands: a node's output slot, or a leaf tensor. */
type Slot = { node: GradNode; index: number } | { leaf: Tensor };

function slotOf(t: Tensor): Slot {
  return t.gradNode ? { node: t.gradNode, index: t.outputIndex } : { leaf: t };
}

function collectNodes(roots: readonly Tensor[]): GradNode[] {
  const seen = new Set<GradNode>();
  const stack = roots.flatMap((r) => (r.gradNode ? [r.gradNode] : []));
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (seen.has(node)) continue;
    seen.add(node);
    for (const input of node.inputs) if (input.saved.gradNode) stack.push(input.saved.gradNode);
  }
  // Nodes are numbered in creation order, and an op is always created after its inputs' ops.
  return [...seen].sort((a, b) => b.id - a.id);
}

function accumulate(map: Map<unknown, Tensor>, key: unknown, g: Tensor): void {
  const previous = map.get(key);
  map.set(key, previous ? add(previous, g) : g);
}

/** A handle of its own on `g` (contiguous), kept past the scope it was made in. */
function owned(g: Tensor): Tensor {
  return keep(contiguous(g));
}

/**
 * Propagates gradients from `roots` (seeded with `rootGrads`) through the recorded graph, calling
 * `onLeaf` for every leaf reached and `onNodeOutput` just before each node is processed (when the
 * gradient of each of its outputs is complete). Everything it makes is freed unless kept.
 */
function propagate(
  roots: readonly Tensor[],
  rootGrads: readonly Tensor[],
  retainGraph: boolean,
  onLeaf: (leaf: Tensor, grad: Tensor) => void,
  onNodeOutputs: (node: GradNode, grads: ReadonlyMap<unknown, Tensor>) => void,
): void {
  const nodes = collectNodes(roots);
  noGrad(() =>
    scope(() => {
      const nodeGrads = new Map<unknown, Tensor>();
      const keyOf = (node: GradNode, index: number) => `${node.id}:${index}`;
      roots.forEach((root, i) => {
        const slot = slotOf(root);
        if ('leaf' in slot) onLeaf(slot.leaf, rootGrads[i]!);
        else accumulate(nodeGrads, keyOf(slot.node, slot.index), rootGrads[i]!);
      });
      for (const node of nodes) {
        if (node.released) {
          throw new SlimlmError(
            'AUTOGRAD',
            `backward: the graph through op '${node.op}' was already freed by an earlier backward; pass retainGraph: true to that one`,
          );
        }
        const gradient = getGradient(node.op);
        if (gradient === undefined) {
          throw new SlimlmError('AUTOGRAD', `backward: op '${node.op}' has no registered gradient`);
        }
        const outputGrads = new Map<unknown, Tensor>();
        const gradOutputs = node.outputs.map((output, index) => {
          const g =
            nodeGrads.get(keyOf(node, index)) ??
            zeros(output.shape, { dtype: output.dtype, backend: output.backend });
          outputGrads.set(index, g);
          return g;
        });
        onNodeOutputs(node, outputGrads);
        const inputGrads = gradient({
          inputs: node.inputs.map((i) => i.saved),
          outputs: node.outputs,
          attrs: node.attrs as Record<string, unknown>,
          gradOutputs,
          needsGrad: node.inputs.map((i) => i.requiresGrad),
        });
        node.inputs.forEach((input, i) => {
          const g = inputGrads[i];
          if (!input.requiresGrad || g === null || g === undefined) return;
          if (!shapesEqual(g.shape, input.saved.shape) || g.dtype !== input.saved.dtype) {
            throw new SlimlmError(
              'AUTOGRAD',
              `backward: the gradient of '${node.op}' for input ${i} is ${formatShape(g.shape)} ${g.dtype}, expected ${formatShape(input.saved.shape)} ${input.saved.dtype}`,
            );
          }
          const slot = slotOf(input.saved);
          if ('leaf' in slot) {
            if (input.leaf && !input.leaf.isDisposed) onLeaf(input.leaf, g);
          } else {
            accumulate(nodeGrads, keyOf(slot.node, slot.index), g);
          }
        });
      }
    }),
  );
  if (!retainGraph) for (const node of nodes) node.release();
}

function seedGradient(root: Tensor, gradient: Tensor | undefined): Tensor {
  if (gradient !== undefined) {
    if (!shapesEqual(gradient.shape, root.shape)) {
      throw new SlimlmError(
        'SHAPE_MISMATCH',
        `backward: gradient ${formatShape(gradient.shape)} does not match the output ${formatShape(root.shape)}`,
      );
    }
    return gradient;
  }
  if (root.size !== 1) {
    throw new SlimlmError(
      'AUTOGRAD',
      `backward: the output has shape ${formatShape(root.shape)}; pass a gradient for a non-scalar output`,
    );
  }
  return onesLike(root);
}

/**
 * Computes the gradient of `root` with respect to every leaf tensor that requires one, adding it
 * to the leaf's `.grad` (which the leaf owns). Frees the graph unless `retainGraph`.
 */
export function backward(root: Tensor, options: BackwardOptions = {}): void {
  root.assertAlive('backward');
  if (!root.requiresGrad) {
    throw new SlimlmError(
      'AUTOGRAD',
      'backward: the output does not require a gradient (no input had requiresGrad set)',
    );
  }
  const seed = seedGradient(root, options.gradient);
  const leafGrads = new Map<Tensor, Tensor>();
  const onLeaf = (leaf: Tensor, g: Tensor) => {
    const previous = leafGrads.get(leaf);
    leafGrads.set(leaf, previous ? keep(add(previous, g)) : owned(g));
    previous?.dispose();
  };
  try {
    propagate([root], [seed], options.retainGraph ?? false, onLeaf, () => {});
  } catch (error) {
    for (const g of leafGrads.values()) g.dispose();
    throw error;
  } finally {
    if (seed !== options.gradient) seed.dispose();
  }
  for (const [leaf, g] of leafGrads) {
    const total = leaf.grad ? add(leaf.grad, g) : g;
    if (total !== g) {
      leaf.grad?.dispose();
      g.dispose();
    }
    leaf.grad = keep(total);
  }
}

export interface GradOptions {
  /** Gradients of the outputs (default: ones for one-element outputs). */
  gradOutputs?: readonly Tensor[];
  retainGraph?: boolean;
  /** Return null for inputs the outputs do not depend on, instead of throwing. */
  allowUnused?: boolean;
}

/**
 * The gradients of `outputs` with respect to `inputs` (leaves or intermediate tensors), returned
 * rather than accumulated into `.grad`. The caller owns (and disposes) the returned tensors.
 */
export function grad(
  outputs: Tensor | readonly Tensor[],
  inputs: readonly Tensor[],
  options: GradOptions = {},
): (Tensor | null)[] {
  const roots = outputs instanceof Tensor ? [outputs] : outputs;
  for (const r of roots) {
    r.assertAlive('grad');
    if (!r.requiresGrad)
      throw new SlimlmError('AUTOGRAD', 'grad: an output does not require a gradient');
  }
  const seeds = roots.map((r, i) => seedGradient(r, options.gradOutputs?.[i]));
  const found = new Map<number, Tensor>();
  const wanted = new Map<unknown, number[]>();
  inputs.forEach((t, i) => {
    const slot = slotOf(t);
    const key = 'leaf' in slot ? slot.leaf : `${slot.node.id}:${slot.index}`;
    wanted.set(key, [...(wanted.get(key) ?? []), i]);
  });
  const record = (key: unknown, g: Tensor) => {
    for (const i of wanted.get(key) ?? []) {
      const previous = found.get(i);
      found.set(i, previous ? keep(add(previous, g)) : owned(g));
      previous?.dispose();
    }
  };
  try {
    propagate(
      roots,
      seeds,
      options.retainGraph ?? false,
      (leaf, g) => record(leaf, g),
      (node, grads) => {
        for (const [index, g] of grads) record(`${node.id}:${index}`, g);
      },
    );
    return inputs.map((t, i) => {
      const g = found.get(i);
      if (g) return g;
      if (options.allowUnused) return null;
      throw new SlimlmError(
        'AUTOGRAD',
        `grad: input ${i} ${formatShape(t.shape)} is not used by the outputs (pass allowUnused: true)`,
      );
    });
  } catch (error) {
    for (const g of found.values()) g.dispose();
    throw error;
  } finally {
    seeds.forEach((s, i) => {
      if (s !== options.gradOutputs?.[i]) s.dispose();
    });
  }
}

setBackwardHook(backward);
