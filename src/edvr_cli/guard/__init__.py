"""Your files are safe: the one output guard, signal handling, and input path checks."""
