"""The model service: reproducible training, a safe artifact format and an HTTP server."""
