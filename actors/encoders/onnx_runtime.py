"""The onnx backend: ONNX Runtime on the CPU over the exported graph, fp32 or int8."""

from __future__ import annotations

import numpy as np

from actors.config import ModelConfig
from actors.encoders.base import register
from actors.encoders.exported import ExportedEncoder


@register("onnx")
class OnnxEncoder(ExportedEncoder):
    """ONNX Runtime on the CPU, fp32 or dynamically quantized int8."""

    def _load(self, config: ModelConfig) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads or 0  # 0: ONNX Runtime picks
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), options,
                                            providers=["CPUExecutionProvider"])

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(["sentence_embedding"], feed)[0]
