"""compress: small, tested compression routines measured by the compress-bench suite.

Subpackages, by layer (a package imports only its own layer's and lower layers' packages;
tools/layers.py checks it, docs/architecture.md draws it):

0. ``core``: errors, validated configs, statistics, strict text and suite files.
1. ``measure`` (sizes, latency, memory, fingerprint) and ``train`` (the loop, evaluation).
2. Techniques, one API shape (a frozen config in, a new model out): ``quantize``, ``prune``,
   ``distill``.
3. ``verdict``: typed results, the case and runner, in-run gates.
4. ``report``: one run's tables and page.
5. ``compare`` (run against run), ``history`` (across nights), ``search`` (accuracy budget).
"""

import logging

# transformers imports torchao whenever it is installed; on a CPU machine torchao then logs a
# warning per CUDA-only extension it cannot load, and torch's pytree logs torchao's enum
# registrations. Neither says anything about the CPU paths measured here.
logging.getLogger("torchao").setLevel(logging.ERROR)
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
