"""compress: small, tested compression routines measured by the compress-bench suite.

One module per technique, each with a validated frozen dataclass config and functions that
return a new model (never mutating their input): ``quantize`` (dynamic int8), ``quantize_static``
(post-training static int8 with calibration), ``qat`` (quantization-aware training), ``qmath``
(the linear quantization arithmetic), plus ``measure``, ``evaluate``, ``serialize``,
``fingerprint`` and ``compare``; ``quantize_torchao`` and ``onnx_runtime`` are the peers.
"""

import logging

# transformers imports torchao whenever it is installed; on a CPU machine torchao then logs a
# warning per CUDA-only extension it cannot load, and torch's pytree logs torchao's enum
# registrations. Neither says anything about the CPU paths measured here.
logging.getLogger("torchao").setLevel(logging.ERROR)
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
