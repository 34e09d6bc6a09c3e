// Registers every kernel of the example backend (imported for these side effects). One file per
// kernel, named exactly like its op, so that searching for an op's name finds its kernel here.
import './add';
import './copy';
import './div';
import './exp';
import './fill';
import './matmul';
import './mul';
import './neg';
import './softmax';
import './squaredDifference';
import './sub';
import './sum';
