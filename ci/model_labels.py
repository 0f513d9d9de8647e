"""Image labels that describe the model inside: read from its training metadata after the build."""

METADATA_PATH_IN_IMAGE = "/app/model/metadata.json"
MODEL_LABEL_PREFIX = "io.mlci.model"
VERSION_LABEL = f"{MODEL_LABEL_PREFIX}.version"
METRIC_LABEL_PREFIX = f"{MODEL_LABEL_PREFIX}.metric."


def model_labels(metadata: dict) -> dict[str, str]:
    labels = {
        f"{MODEL_LABEL_PREFIX}.name": str(metadata.get("model_name", "")),
        VERSION_LABEL: str(metadata.get("model_version", "")),
        f"{MODEL_LABEL_PREFIX}.artifact-sha256": str(metadata.get("artifact", {}).get("sha256", "")),
        f"{MODEL_LABEL_PREFIX}.training-data-sha256": str(
            metadata.get("training_data", {}).get("fingerprint_sha256", "")),
    }
    for name, value in sorted(metadata.get("metrics", {}).items()):
        labels[f"{METRIC_LABEL_PREFIX}{name}"] = str(value)
    return {key: value for key, value in labels.items() if value}


def metadata_from_labels(labels: dict[str, str]) -> dict:
    """The model version and metrics an image's labels carry (what model_labels wrote)."""
    return {"model_version": labels.get(VERSION_LABEL),
            "metrics": {key[len(METRIC_LABEL_PREFIX):]: float(value) for key, value in labels.items()
                        if key.startswith(METRIC_LABEL_PREFIX)}}
