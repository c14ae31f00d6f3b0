"""Every private Hypothesis and pytest API that hypofuzz_nb touches, and nothing else.

Hypothesis and pytest change their internals in minor releases. Keeping every such
use in this package means a new release breaks one small module, and
``tests/test_compat_*.py`` check each function here against the installed releases.
One module per area: :mod:`.collection` (pytest sessions, test settings and keys),
:mod:`.database` (example databases, redis-py), :mod:`.engine` (running a test on
given choices). The rest of the package calls them as ``_compat.<name>``.
"""

from hypofuzz_nb._compat.collection import *  # noqa: F403
from hypofuzz_nb._compat.database import *  # noqa: F403
from hypofuzz_nb._compat.engine import *  # noqa: F403
