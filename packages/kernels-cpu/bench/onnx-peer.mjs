// The onnxruntime peer of the quant benchmarks: a chain of MatMulNBits nodes (com.microsoft, 4-bit,
// blocks of `blockSize`) built as an ONNX model in memory and run through onnxruntime-node, with the
// same weights as slimlm's GPTQ tensors (converted to MatMulNBits' layout). ONNX is protobuf; the few
// messages needed are written by hand below (field numbers from onnx/onnx.proto), so the benchmark
// needs no onnx package. onnxruntime-node is a devDependency whose install script is denied (it would
// download CUDA libraries); its CPU binaries ship in the npm package.

// ---- protobuf writing ----

function varint(value) {
  const bytes = [];
  let v = BigInt(value);
  if (v < 0n) v += 1n << 64n;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    bytes.push(byte);
  } while (v !== 0n);
  return bytes;
}

/** A message: an array of encoded fields (Uint8Array chunks). */
const field = {
  int: (number, value) => Uint8Array.from([...varint(number << 3), ...varint(value)]),
  bytes: (number, payload) =>
    concat([Uint8Array.from([...varint((number << 3) | 2), ...varint(payload.length)]), payload]),
  string: (number, text) => field.bytes(number, new TextEncoder().encode(text)),
  message: (number, parts) => field.bytes(number, concat(parts)),
};

function concat(parts) {
  const out = new Uint8Array(parts.reduce((total, p) => total + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const FLOAT = 1;
const UINT8 = 2;
const ATTRIBUTE_INT = 2;

function tensorProto(name, dataType, dims, raw) {
  return [
    ...dims.map((d) => field.int(1, d)),
    field.int(2, dataType),
    field.string(8, name),
    field.bytes(9, raw),
  ];
}

function valueInfo(name, dims) {
  const shape = dims.map((d) =>
    field.message(1, [typeof d === 'string' ? field.string(2, d) : field.int(1, d)]),
  );
  const tensorType = [field.int(1, FLOAT), field.message(2, shape)];
  return [field.string(1, name), field.message(2, [field.message(1, tensorType)])];
}

function attributeInt(name, value) {
  return field.message(5, [
    field.string(1, name),
    field.int(20, ATTRIBUTE_INT),
    field.int(3, value),
  ]);
}

// ---- GPTQ tensors -> MatMulNBits ----

/**
 * MatMulNBits' B [N, K / block, block / 2] (two 4-bit codes a byte, lower k in the low nibble),
 * scales [N * K / block] f32 and zero_points [N, ceil(K / block / 2)] (4-bit, packed the same way)
 * from GPTQ-packed qweight [K / 8, N], qzeros [G, N / 8] (v1: stored z - 1) and scales [G, N], for
 * group size == block.
 */
export function toMatMulNBits({ qweight, qzeros, scales }, { n, k, blockSize, zeroOffset }) {
  const blocks = k / blockSize;
  const b = new Uint8Array(n * blocks * (blockSize / 2));
  for (let col = 0; col < n; col++) {
    for (let kk = 0; kk < k; kk += 2) {
      const lo = (qweight[(kk >> 3) * n + col] >>> ((kk & 7) * 4)) & 15;
      const hi = (qweight[((kk + 1) >> 3) * n + col] >>> (((kk + 1) & 7) * 4)) & 15;
      b[col * (k / 2) + kk / 2] = lo | (hi << 4);
    }
  }
  const zeroBytes = Math.ceil(blocks / 2);
  const zeroPoints = new Uint8Array(n * zeroBytes);
  const scaleValues = new Float32Array(n * blocks);
  for (let col = 0; col < n; col++) {
    for (let g = 0; g < blocks; g++) {
      const z = (((qzeros[g * (n / 8) + (col >> 3)] >>> ((col & 7) * 4)) & 15) + zeroOffset) & 15;
      zeroPoints[col * zeroBytes + (g >> 1)] |= z << ((g & 1) * 4);
      scaleValues[col * blocks + g] = scales[g * n + col];
    }
  }
  return { b, scales: scaleValues, zeroPoints };
}

/**
 * An ONNX model of `weights.length` MatMulNBits nodes that all read x [m, k] and write y0, y1, ...
 * [m, n] (run one after the other: timing the model times every layer's weights once, so that a
 * set larger than the cache streams from memory). Layer i has weights[i] (toMatMulNBits' output);
 * accuracyLevel 4 quantizes x to int8 (VNNI), 0 multiplies in f32.
 */
export function matMulNBitsModel(weights, { n, k, blockSize, accuracyLevel }) {
  const blocks = k / blockSize;
  const initializers = [];
  const nodes = [];
  const outputs = [];
  weights.forEach((w, i) => {
    const names = [`b${i}`, `s${i}`, `z${i}`];
    initializers.push(
      field.message(5, tensorProto(names[0], UINT8, [n, blocks, blockSize / 2], w.b)),
      field.message(5, tensorProto(names[1], FLOAT, [n * blocks], new Uint8Array(w.scales.buffer))),
      field.message(5, tensorProto(names[2], UINT8, [n, Math.ceil(blocks / 2)], w.zeroPoints)),
    );
    nodes.push(
      field.message(1, [
        ...['x', ...names].map((name) => field.string(1, name)),
        field.string(2, `y${i}`),
        field.string(3, `matmul${i}`),
        field.string(4, 'MatMulNBits'),
        field.string(7, 'com.microsoft'),
        attributeInt('K', k),
        attributeInt('N', n),
        attributeInt('bits', 4),
        attributeInt('block_size', blockSize),
        attributeInt('accuracy_level', accuracyLevel),
      ]),
    );
    outputs.push(field.message(12, valueInfo(`y${i}`, ['m', n])));
  });
  const graph = [
    ...nodes,
    field.string(2, 'slimlm-bench'),
    ...initializers,
    field.message(11, valueInfo('x', ['m', k])),
    ...outputs,
  ];
  return concat([
    field.int(1, 8), // ir_version
    field.message(8, [field.string(1, ''), field.int(2, 17)]),
    field.message(8, [field.string(1, 'com.microsoft'), field.int(2, 1)]),
    field.message(7, graph),
  ]);
}

/** onnxruntime-node, or undefined (with the reason) when it cannot be loaded here. */
export async function loadOnnxRuntime() {
  try {
    return { ort: await import('onnxruntime-node') };
  } catch (error) {
    return { why: error instanceof Error ? error.message.split('\n')[0] : String(error) };
  }
}

/** A session on `threads` intra-op threads that runs the model on x [m, k]; returns y0's data. */
export async function matMulNBitsSession(ort, model, threads) {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  return {
    async run(x, m, k) {
      const result = await session.run({ x: new ort.Tensor('float32', x, [m, k]) });
      return result.y0.data;
    },
    release: () => session.release(),
  };
}
