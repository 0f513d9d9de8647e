"""The service's published OpenAPI 3.1 document, built from the feature schema so the two cannot drift."""

from model_app.features import CLASS_NAMES, FEATURE_NAMES
from model_app.validation import FLOAT32_MAX

# What validation.py accepts for a feature: a finite number within float32's range.
FEATURE_SCHEMA = {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}


def _error_response(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def build_openapi(model_name: str, max_batch: int, max_body_bytes: int) -> dict:
    record = {
        "type": "object",
        "additionalProperties": False,
        "required": list(FEATURE_NAMES),
        "properties": {name: dict(FEATURE_SCHEMA) for name in FEATURE_NAMES},
    }
    prediction = {
        "type": "object",
        "required": ["label", "probabilities"],
        "properties": {
            "label": {"type": "string", "enum": list(CLASS_NAMES)},
            "probabilities": {
                "type": "object",
                "required": list(CLASS_NAMES),
                "properties": {name: {"type": "number", "minimum": 0, "maximum": 1} for name in CLASS_NAMES},
            },
        },
    }
    plain_json = {"application/json": {"schema": {"type": "object"}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{model_name} model service",
            "version": "1",
            "description": f"Batches of at most {max_batch} records; bodies of at most {max_body_bytes} bytes.",
        },
        "paths": {
            "/predict": {"post": {
                "summary": "Predict a batch of records",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}}},
                "responses": {
                    "200": {"description": "One prediction per record, in order",
                            "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/PredictResponse"}}}},
                    "400": _error_response("The body is not valid JSON"),
                    "413": _error_response("The body or the batch is over its limit"),
                    "415": _error_response("The content type is not application/json"),
                    "422": _error_response("A field is missing, unknown, of the wrong type or not finite"),
                    "500": _error_response("An internal error (logged by the service); never the input's fault"),
                    "503": _error_response("The model is not ready"),
                },
            }},
            "/health": {"get": {"summary": "The process is alive",
                                "responses": {"200": {"description": "Alive", "content": plain_json}}}},
            "/ready": {"get": {"summary": "The model is loaded and its sha256 verified", "responses": {
                "200": {"description": "Ready", "content": plain_json},
                "503": {"description": "Not ready; the body says why", "content": plain_json}}}},
            "/metadata": {"get": {"summary": "The served model's metadata", "responses": {
                "200": {"description": "Training metadata", "content": plain_json},
                "503": _error_response("The model is not ready")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
                "description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {
                "200": {"description": "OpenAPI 3.1", "content": plain_json}}}},
        },
        "components": {"schemas": {
            "Record": record,
            "PredictRequest": {
                "type": "object", "additionalProperties": False, "required": ["records"],
                "properties": {"records": {"type": "array", "minItems": 1, "maxItems": max_batch,
                                           "items": {"$ref": "#/components/schemas/Record"}}},
            },
            "Prediction": prediction,
            "PredictResponse": {
                "type": "object", "required": ["request_id", "model_version", "predictions"],
                "properties": {
                    "request_id": {"type": "string"},
                    "model_version": {"type": "string"},
                    "predictions": {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}},
                },
            },
            "Error": {
                "type": "object", "required": ["error"],
                "properties": {"error": {
                    "type": "object", "required": ["status", "field", "message"],
                    "properties": {"status": {"type": "integer"}, "field": {"type": ["string", "null"]},
                                   "message": {"type": "string"}},
                }},
            },
        }},
    }
