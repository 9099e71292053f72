"""What the test tiers share: waiting on a condition, servers to break, worker processes, the
execution ledger, the invariant checker and the fault proxy. Imports nothing from test modules."""
