"""Test harness: the throwaway database servers of ``opendrs.sandbox``, under the name tests use.

Import from here (``from harness import MariaDBServer``); ``tests/`` is on ``sys.path``
because the root ``tests/conftest.py`` lives there (pytest rootdir-relative imports).
"""

from __future__ import annotations

from opendrs.sandbox import *  # noqa: F403 - the harness IS the sandbox, re-exported
from opendrs.sandbox import __all__ as __all__
