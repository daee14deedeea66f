"""Names and version of the model artifact; torch-free so the runtime and CLI can read them."""

FORMAT_VERSION = 3  # 2: scoring rule (head.pt), radius rule, Deep SAD settings; 3: tiling, hybrid objective
READABLE_FORMATS = (2, 3)  # a format-2 model is a format-3 one without tiling or hybrid objective (defaults apply)
MODEL_JSON = "model.json"
ENCODER_WEIGHTS = "encoder.pt"
HEAD_WEIGHTS = "head.pt"
AE_JSON = "autoencoder.json"
AE_WEIGHTS = "autoencoder.pt"
ONNX_FILE = "model.onnx"
META_PREFIX = "inspect_svdd."
