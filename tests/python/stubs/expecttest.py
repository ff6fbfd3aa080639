"""A stand-in for the ``expecttest`` package, which Debian does not ship.

PyTorch's OpInfo database (``torch.testing._internal.common_methods_invocations``)
imports ``torch.testing._internal.common_utils``, which needs a module named
``expecttest`` with an ``ACCEPT`` flag and a ``TestCase`` base class. Nothing
here implements expect tests: the op-coverage generator (``op_cases.py``)
only reads OpInfos and their sample inputs. ``op_cases`` puts this directory
on ``sys.path`` only when no real ``expecttest`` is importable.
"""

import unittest

ACCEPT = False


class TestCase(unittest.TestCase):
    """Base class torch's TestCase derives from; no expect-test support."""
