"""Names and version of the model artifact; torch-free so the runtime and CLI can read them."""

FORMAT_VERSION = 2  # 2: scoring rule (head.pt), radius rule, Deep SAD settings
MODEL_JSON = "model.json"
ENCODER_WEIGHTS = "encoder.pt"
HEAD_WEIGHTS = "head.pt"
AE_JSON = "autoencoder.json"
AE_WEIGHTS = "autoencoder.pt"
ONNX_FILE = "model.onnx"
META_PREFIX = "inspect_svdd."
