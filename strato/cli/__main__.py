"""``python -m strato.cli``: the processes ``strato up`` starts run this way."""

import sys

from strato.cli import main

sys.exit(main())
