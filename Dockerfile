# One multi-target image for the three services. It installs exactly what the README's
# set-up installs (`make setup`), so a container and a dev checkout run the same code.
#   docker build --target sanctum -t esper/sanctum .
#   docker build --target trainer -t esper/trainer .   (TORCH_SPEC picks the torch build)
#   docker build --target tui -t esper/tui .
FROM python:3.11-slim AS base
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ARG TORCH_SPEC=torch==2.13.0
COPY pyproject.toml Makefile README.md ./
COPY proto ./proto
COPY gen ./gen
COPY scripts ./scripts
COPY esper_common ./esper_common
COPY sanctum_svc ./sanctum_svc
COPY trainer_svc ./trainer_svc
COPY tui_client ./tui_client
RUN make setup VENV=/opt/venv TORCH_SPEC="${TORCH_SPEC}"
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
RUN useradd --create-home esper && mkdir -p /data && chown esper /data
USER esper

FROM base AS sanctum
VOLUME ["/data"]
EXPOSE 50051
# Binds all interfaces inside the container; a token (ESPER_TOKEN) is required for that.
HEALTHCHECK --interval=5s --timeout=4s --start-period=20s --retries=5 \
  CMD ["python", "scripts/healthcheck.py", "127.0.0.1:50051"]
ENTRYPOINT ["esper-sanctum", "serve", "--listen", "0.0.0.0:50051", "--store", "/data/sanctum.sqlite"]

FROM base AS trainer
ENTRYPOINT ["esper-trainer"]
CMD ["--sanctum", "sanctum:50051"]

FROM base AS tui
ENV TERM=xterm-256color
ENTRYPOINT ["esper-tui"]
CMD ["--server", "sanctum:50051"]
