// Registers the gradient of every differentiable core op (imported for these side effects).
import './view';
import './arithmetic';
import './math';
import './reduce';
import './linalg';
import './normalization';
import './indexing';
import './transformer';
