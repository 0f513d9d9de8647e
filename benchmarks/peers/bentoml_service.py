"""The BentoML service of the serving benchmark: the scikit-learn model loaded through BentoML's sklearn flavour."""

import json
import os
from pathlib import Path

import bentoml
import numpy as np
from pydantic import create_model

_SCHEMA = json.loads(Path(os.environ["BENCH_SCHEMA_FILE"]).read_text())
FEATURES = tuple(_SCHEMA["features"])
CLASSES = tuple(_SCHEMA["classes"])
# One required float per feature: BentoML validates a record as strictly as our service does.
Record = create_model("Record", **{name: (float, ...) for name in FEATURES})


@bentoml.service(workers=int(os.environ["BENCH_WORKERS"]))
class BreastCancerClassifier:
    model_ref = bentoml.models.BentoModel(os.environ["BENCH_MODEL_TAG"])

    def __init__(self) -> None:
        self.model = bentoml.sklearn.load_model(self.model_ref)

    @bentoml.api
    def predict(self, record: Record) -> dict:
        row = np.array([[getattr(record, name) for name in FEATURES]], dtype=np.float32)
        probabilities = self.model.predict_proba(row)[0].tolist()
        label = CLASSES[int(np.argmax(probabilities))]
        return {"label": label, "probabilities": dict(zip(CLASSES, probabilities))}
