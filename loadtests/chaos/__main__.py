"""``python -m loadtests.chaos``: see loadtests/chaos/run.py."""

import sys

from loadtests.chaos.run import main

sys.exit(main())
