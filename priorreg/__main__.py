"""``python -m priorreg``."""

import sys

from priorreg.cli import main

sys.exit(main())
