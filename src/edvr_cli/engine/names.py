"""Option names the CLI offers, importable without torch."""

PRECISION_NAMES = ("fp32", "fp16", "bf16")

#: The smallest tile edge (input pixels) worth running: smaller tiles are mostly overlap.
MIN_TILE = 32
