"""Fidelity reports: how well a restored video agrees with its input, shot by shot (JSON and HTML).

Modules, one job each: ``metrics`` (per-frame measures on arrays), ``degradation`` (what the model is
and how its output is brought back to the input's grid), ``collect`` (the streaming pass over input and
output), ``definitions`` (what every number means), ``svg`` (the plot), ``html`` (the page), ``files``
(where the report goes, through the output guard). Nothing here is imported by ``edvr --help``.
"""
