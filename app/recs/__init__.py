"""The recommender: implicit ALS trained offline, top-N served from Redis, fold-in for new users.

OpenBLAS threads inside ALS's own thread pool oversubscribe the CPU and slow fitting down
several times (implicit warns about it). The limit must be set before numpy loads OpenBLAS,
so it is set here, once: every module that trains, evaluates or serves is under this package,
and Python runs this file before any of them.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
