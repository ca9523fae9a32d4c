// Failpoints for the fault-matrix tests (tests/e2e/test_fault_matrix.py, docs/operator.md):
// with ZUNVM_FAILPOINT=<name> in zunvmd's environment, Failpoint(name) kills the process
// with SIGKILL right there, a crash at a known step of an operation. The variable is read
// once, at the first call; unset (production) every Failpoint is one comparison.
// Names are "<operation>.<step just done>", e.g. "create.sandbox_made". Thread-safe.
#pragma once

namespace zunvm {

void Failpoint(const char* name);

}  // namespace zunvm
