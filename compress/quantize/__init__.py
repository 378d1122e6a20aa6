"""Layer 2, techniques: dynamic and static int8, 16-bit (bf16 / fp16), QAT, the linear
quantization math, torchao and ONNX Runtime peers, the compiled (Inductor) path, quantized
checkpoints.

The names below load their module on first use (lazy_loader), so importing one
module of the package imports no other."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[
        "compiled",
        "dynamic",
        "half",
        "onnx_runtime",
        "qat",
        "qmath",
        "serialize",
        "static",
        "torchao_configs",
    ],
    submod_attrs={
        "compiled": [
            "CompileError",
            "ToolchainMissing",
            "CompileConfig",
            "CompiledModel",
            "require_compiler",
            "compile_model",
            "drop_unused_tensors",
            "rebatch",
        ],
        "half": ["HalfConfig", "HalfModel", "to_half"],
        "dynamic": [
            "default_engine",
            "check_engine",
            "resolve_engine",
            "DynamicQuantConfig",
            "quantized_engine",
            "quantize_dynamic",
        ],
        "onnx_runtime": [
            "OrtConfig",
            "export_onnx",
            "ort_quantize",
            "export_onnx_lm",
            "OrtLM",
            "OrtClassifier",
            "onnx_file_size",
        ],
        "qat": ["QATConfig", "prepare_qat", "convert_qat", "fit_qat_", "train_qat"],
        "qmath": [
            "QuantSpec",
            "QTensor",
            "power_of_two_scale",
            "compute_qparams",
            "quantize",
            "dequantize",
            "quantization_error",
            "sqnr_db",
        ],
        "serialize": ["save_quantized", "load_quantized"],
        "static": [
            "StubbedLinear",
            "stub_linears",
            "stub_linears_",
            "assign_qconfig",
            "PercentileObserver",
            "activation_range",
            "weight_observer",
            "StaticQuantConfig",
            "check_observers_finite",
            "quantize_static",
        ],
        "torchao_configs": [
            "BackendUnsupported",
            "TorchaoConfig",
            "torchao_version",
            "quantize_torchao",
        ],
    },
)
