"""Run the verified ONNX model with onnxruntime: feature matrix in, labels and probabilities out."""

import numpy as np
import onnxruntime


class Predictor:
    def __init__(self, model_bytes: bytes):
        # onnxruntime would otherwise try to persist a telemetry id under $HOME (read-only in the image).
        onnxruntime.disable_telemetry_events()
        options = onnxruntime.SessionOptions()
        # One request is a few microseconds of work: thread pools only add wake-up latency
        # and fight the event loop for the machine's cores.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_name = self._session.get_inputs()[0].name

    def predict(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels, probabilities = self._session.run(None, {self._input_name: matrix})
        return labels, probabilities
