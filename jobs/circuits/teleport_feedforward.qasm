// Teleportation with feed-forward: q[0] in ry(1.1)|0> is teleported onto q[2]; the corrections
// are `if` statements on the two measured bits, and q[0] is reset and reused.
// Theory: P(c[2] = 1) = sin^2(1.1 / 2) = 0.2731, whatever c[0] and c[1] read.
OPENQASM 3.0;
include "stdgates.inc";
qubit[3] q;
bit[3] c;
ry(1.1) q[0];
h q[1];
cx q[1], q[2];
cx q[0], q[1];
h q[0];
c[0] = measure q[0];
c[1] = measure q[1];
if (c[1] == 1) { x q[2]; }
if (c[0] == 1) { z q[2]; }
reset q[0];
c[2] = measure q[2];
