"""Test support for Kiln: the PyTorch oracle that compiled results are
compared against, input makers and per-dtype comparisons
(:mod:`kiln.testing.torch_oracle`), and the captured-graph data format
(:mod:`kiln.testing.captured`)."""
