"""compress: small, tested compression routines measured by the compress-bench suite.

One module per technique, each with a validated frozen dataclass config and functions that
return a new model (never mutating their input): ``quantize`` (dynamic int8), ``quantize_static``
(post-training static int8 with calibration), ``qat`` (quantization-aware training), ``qmath``
(the linear quantization arithmetic), plus ``measure``, ``evaluate``, ``serialize``,
``fingerprint`` and ``compare``.
"""
