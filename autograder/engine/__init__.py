"""The engine: notebook assembly, sandbox, kernels, limits, artifacts, checks; one module per job."""
