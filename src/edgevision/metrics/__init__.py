"""Pure metric functions on numpy arrays, shared by the tasks, the benchmarks and the report."""
