"""``python -m hypofuzz_nb``: the same as the ``hypofuzz-nb`` command."""

from hypofuzz_nb.cli import main

raise SystemExit(main())
