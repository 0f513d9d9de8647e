# The model service image, and the test-runner image built from the same stages:
#   runtime-deps  a virtual environment with the pinned serving dependencies (cached until requirements change)
#   trainer       trains the model reproducibly and exports the ONNX artifact (cached until training code changes)
#   runtime       slim, non-root, read-only-root friendly: base + venv + artifact + service code (the default target)
#   test-runner   every pinned dependency, the tests, the toolkit and the same artifact (`--target test-runner`)
# BASE_IMAGE is an official Python image where a registry is reachable, or the base that
# `python -m ci setup` bootstraps from the OS package mirror where none is.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build-base
COPY docker/trust/ /opt/build-trust/
COPY docker/pip-install.sh /usr/local/bin/pip-install
COPY docker/apt-install.sh /usr/local/bin/apt-install
ARG PIP_INDEX_URL
ENV PYTHONDONTWRITEBYTECODE=1 PIP_DEFAULT_TIMEOUT=120

FROM build-base AS runtime-deps
RUN apt-install binutils
COPY requirements/serve.txt /tmp/requirements/serve.txt
COPY docker/trim-venv.sh /usr/local/bin/trim-venv
RUN pip-install /opt/venv /tmp/requirements/serve.txt && trim-venv /opt/venv

FROM build-base AS trainer
COPY requirements/train.txt /tmp/requirements/train.txt
RUN pip-install /opt/train-venv /tmp/requirements/train.txt
WORKDIR /src
# Only what training imports, so that a change to the serving code does not retrain.
COPY model_app/__init__.py model_app/features.py model_app/dataset.py model_app/artifact.py model_app/train.py model_app/
RUN /opt/train-venv/bin/python -m model_app.train --out /artifacts --git-commit unknown
ARG GIT_COMMIT=unknown
RUN /opt/train-venv/bin/python -m model_app.train --out /artifacts --stamp-only --git-commit "${GIT_COMMIT}"

FROM build-base AS test-runner-deps
COPY requirements/ /tmp/requirements/
# The stamp tells `python -m ci` (ci/bootstrap.py) that this venv already holds the pinned requirements.
RUN pip-install /opt/venv /tmp/requirements/dev.txt \
 && cat /tmp/requirements/*.txt | sha256sum | cut -d' ' -f1 > /opt/venv/.requirements.sha256

FROM ${BASE_IMAGE} AS test-runner
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/runner --shell /usr/sbin/nologin runner \
 && mkdir -p /work/reports && chown 10001:10001 /work/reports
COPY --from=test-runner-deps /opt/venv /opt/venv
COPY --from=trainer /artifacts/ /work/build/model/
WORKDIR /work
COPY ci.toml pytest.ini .flake8 .coveragerc docker-compose.ci.yml Jenkinsfile ./
COPY requirements/ requirements/
COPY ci/ ci/
COPY model_app/ model_app/
COPY tests/ tests/
# The proxy helper script is unit-tested too, and the unit tier checks how the images install.
COPY docker/proxy/ docker/proxy/
COPY docker/pip-install.sh docker/
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MODEL_DIR=/work/build/model \
    COVERAGE_FILE=/tmp/.coverage
USER 10001:10001
CMD ["python", "-m", "pytest", "tests/unit"]

FROM ${BASE_IMAGE} AS runtime-base
COPY docker/trim-runtime-base.sh /tmp/trim-runtime-base
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin model \
 && mkdir -p /data && chown 10001:10001 /data \
 && /tmp/trim-runtime-base && rm /tmp/trim-runtime-base

# Last, so that a plain `docker build .` builds the service image. One flattened base layer: files
# deleted by the trim are really gone, not hidden under a later layer.
FROM scratch AS runtime
COPY --from=runtime-base / /
COPY --from=runtime-deps /opt/venv /opt/venv
COPY --from=trainer /artifacts/model.onnx /app/model/model.onnx
COPY model_app/ /app/model_app/
COPY --from=trainer /artifacts/metadata.json /app/model/metadata.json
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MODEL_DIR=/app/model \
    HOST=0.0.0.0 \
    PORT=8000 \
    PREDICTION_LOG_PATH=/data/predictions.sqlite
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 CMD ["python", "-m", "model_app.healthcheck"]
CMD ["python", "-m", "model_app.serve"]
