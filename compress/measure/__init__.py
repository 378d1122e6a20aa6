"""Layer 1: sizes, latency, peak memory of a fresh process, and the machine's fingerprint.

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["fingerprint", "memory", "meters"],
    submod_attrs={
        "fingerprint": [
            "parse_cpuinfo",
            "isa_caps",
            "capped_isa",
            "fingerprint_id",
            "machine_fingerprint",
            "fingerprint_diff",
            "isa_class",
        ],
        "memory": ["MemoryProbeError", "MemoryProfile", "peak_memory"],
        "meters": [
            "serialized_size",
            "linear_weight_bytes",
            "replaced_weight_bytes",
            "expected_dynamic_int8_size",
            "count_parameters",
            "available_cores",
            "training_threads",
            "pinned_threads",
            "Timing",
            "percentiles",
            "time_callable",
            "Speedup",
            "paired_speedup",
        ],
    },
)
