"""The openvino backend: OpenVINO on the CPU over the exported graph, f32 or bf16."""

from __future__ import annotations

import numpy as np

from actors.config import ModelConfig
from actors.encoders.base import register
from actors.encoders.exported import ExportedEncoder, cache_root


@register("openvino")
class OpenVinoEncoder(ExportedEncoder):
    """OpenVINO on the CPU, with an explicit precision: f32, or bf16 (AMX / AVX-512 BF16 CPUs)."""

    def _load(self, config: ModelConfig) -> None:
        import openvino as ov

        core = ov.Core()
        # Compiled blobs are cached too, so a second actor start skips the compile.
        core.set_property({"CACHE_DIR": str(cache_root() / "openvino")})
        precision = "bf16" if config.quantize == "bf16" else "f32"
        settings = {"INFERENCE_PRECISION_HINT": precision, "NUM_STREAMS": 1}
        if self.threads:
            settings["INFERENCE_NUM_THREADS"] = self.threads
        self.compiled = core.compile_model(core.read_model(str(self.path)), "CPU", settings)
        self.request = self.compiled.create_infer_request()

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return self.request.infer(feed)[0].copy()
