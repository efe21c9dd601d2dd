"""Number formats a device computes in (fp32, fp16, bf16, int8): their limits, emulation of
fp16/bf16 as an onnx-ir graph rewrite run on ONNX Runtime, and int8 QDQ quantization with
calibration. This room may import ``nnport.model`` and ``nnport.backends`` only (plus the
shared ``nnport.errors`` and ``nnport.results``); ``verify``, ``passes`` and the CLI build on it.
"""
