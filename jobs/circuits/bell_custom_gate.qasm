// A Bell pair made by a custom gate, hand-written OpenQASM 3 for dqsim's examples.
// Expected counts: about half "00" and half "11".
OPENQASM 3.0;
include "stdgates.inc";

// Entangle two qubits: (|00> + |11>)/sqrt(2) from |00>.
gate bell a, b {
    h a;
    cx a, b;
}

qubit[2] q;
bit[2] c;

bell q[0], q[1];
c = measure q;
