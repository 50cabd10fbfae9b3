"""Check step: pytest tests, one module per practical, run in the grader's process on exported files."""
