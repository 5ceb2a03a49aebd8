"""Option names the CLI offers, importable without torch."""

PRECISION_NAMES = ("fp32", "fp16", "bf16")
