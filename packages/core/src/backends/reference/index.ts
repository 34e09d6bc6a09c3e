// Registers the reference backend and all of its kernels (imported for these side effects).
import './backend';
import './kernels/memory';
import './kernels/elementwise';
import './kernels/math';
import './kernels/reduce';
import './kernels/linalg';
import './kernels/cholesky';
import './kernels/normalization';
import './kernels/indexing';
import './kernels/transformer';
import './kernels/quantized';
