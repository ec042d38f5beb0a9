"""The runtime: the durable queue, workers, the scheduler and its leader, Xero's limits."""
