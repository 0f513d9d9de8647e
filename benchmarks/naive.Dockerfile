# The baseline a team writes first: code copied before dependencies are installed, one stage.
# Any code change invalidates the dependency layers, so every rebuild reinstalls everything.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
WORKDIR /src
COPY . /src
RUN if [ -s docker/trust/ca-certificates.crt ]; then export PIP_CERT=/src/docker/trust/ca-certificates.crt; fi \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -r requirements/serve.txt -r requirements/train.txt \
 && /opt/venv/bin/python -m model_app.train --out /src/build/model --git-commit naive
ENV PATH=/opt/venv/bin:$PATH MODEL_DIR=/src/build/model HOST=0.0.0.0
CMD ["python", "-m", "model_app.serve"]
