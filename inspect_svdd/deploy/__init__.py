"""What ships to the line: ONNX export, the torch-free runtime, batch scoring, its backends and result files.

Importing this package imports neither torch nor the model; the modules that
need torch (``export``, ``torch_backend``) import it themselves.
"""
