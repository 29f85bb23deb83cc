# Images per service. Each installs only its extra of esper-sanctum, at the exact versions of
# constraints.txt, into /opt/venv in a build stage; the runtime stage gets that venv and
# nothing else (no compiler, no dev tools, no pip cache, no source tree), runs as a non-root
# user, and is configured by ESPER_* variables (every flag has one).
#   docker build --target sanctum -t esper/sanctum .     [server]: no torch, no textual
#   docker build --target tui -t esper/tui .             [web]: textual + textual-serve
#   docker build --target trainer -t esper/trainer .     [trainer] with the CPU torch
#   docker build --target trainer -t esper/trainer:cu126 \
#       --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 \
#       --build-arg TRAINER_EXTRAS=trainer,gpu .          a CUDA 12.6 torch and NVML
ARG PYTHON_IMAGE=python:3.11-slim

# The project as a wheel (built once, shared by every image).
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gen ./gen
COPY esper_common ./esper_common
COPY sanctum_svc ./sanctum_svc
COPY trainer_svc ./trainer_svc
COPY tui_client ./tui_client
RUN pip wheel --no-cache-dir --disable-pip-version-check --no-deps -w /wheels .

FROM ${PYTHON_IMAGE} AS sanctum-venv
# cluster: also the NATS client for `serve --cluster` (compose.cluster.yaml).
ARG SANCTUM_EXTRAS=server
COPY --from=wheel /wheels /wheels
COPY constraints.txt /constraints.txt
RUN python -m venv --without-pip /opt/venv \
 && pip install --no-cache-dir --disable-pip-version-check --python /opt/venv/bin/python \
      -c /constraints.txt "$(ls /wheels/*.whl)[${SANCTUM_EXTRAS}]"

FROM ${PYTHON_IMAGE} AS tui-venv
ARG TUI_EXTRAS=web
COPY --from=wheel /wheels /wheels
COPY constraints.txt /constraints.txt
RUN python -m venv --without-pip /opt/venv \
 && pip install --no-cache-dir --disable-pip-version-check --python /opt/venv/bin/python \
      -c /constraints.txt "$(ls /wheels/*.whl)[${TUI_EXTRAS}]"

# torch first, from the PyTorch index of the wanted build (the CPU one by default: a few
# hundred MB instead of the multi-GB CUDA wheels); the extra's other packages then come
# from PyPI at the pinned versions, torch as installed.
FROM ${PYTHON_IMAGE} AS trainer-venv
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0
ARG TRAINER_EXTRAS=trainer
COPY --from=wheel /wheels /wheels
COPY constraints.txt /constraints.txt
RUN python -m venv --without-pip /opt/venv \
 && pip install --no-cache-dir --disable-pip-version-check --python /opt/venv/bin/python \
      --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
 && pip install --no-cache-dir --disable-pip-version-check --python /opt/venv/bin/python \
      -c /constraints.txt "$(ls /wheels/*.whl)[${TRAINER_EXTRAS}]"

# What every service image shares: the slim Python, a non-root user, a writable /data.
FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --create-home --uid 10001 esper && mkdir -p /data && chown esper /data
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /home/esper
USER esper

FROM runtime AS sanctum
COPY --from=sanctum-venv /opt/venv /opt/venv
COPY scripts/healthcheck.py /opt/esper/healthcheck.py
# All interfaces inside the container, so a token (ESPER_TOKEN) is required.
ENV ESPER_LISTEN=0.0.0.0:50051 ESPER_STORE=/data/sanctum.sqlite
VOLUME ["/data"]
EXPOSE 50051
HEALTHCHECK --interval=5s --timeout=4s --start-period=20s --retries=5 \
  CMD ["python", "/opt/esper/healthcheck.py", "127.0.0.1:50051"]
ENTRYPOINT ["esper-sanctum", "serve"]

FROM runtime AS trainer
COPY --from=trainer-venv /opt/venv /opt/venv
ENV ESPER_SANCTUM=sanctum:50051
ENTRYPOINT ["esper-trainer"]

FROM runtime AS tui
COPY --from=tui-venv /opt/venv /opt/venv
ENV TERM=xterm-256color ESPER_SERVER=sanctum:50051
ENTRYPOINT ["esper-tui"]
