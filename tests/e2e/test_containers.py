"""Containers: the compose topology and Dockerfile targets are consistent with the project.

No Docker engine runs here, so `docker compose config` runs only where the compose plugin
exists; the structure is checked everywhere, and the healthcheck script is run for real.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testkit import ThreadedSanctum, free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_compose_runs_each_service_from_its_dockerfile_target() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"sanctum", "trainer", "tui"}
    targets = set(re.findall(r"^FROM \S+ AS (\w+)$", DOCKERFILE, re.M))
    for name, svc in services.items():
        assert svc["build"]["target"] in targets, name
        assert "ESPER_TOKEN" in svc["environment"], f"{name} must take its token from the env"
    assert services["trainer"]["depends_on"]["sanctum"]["condition"] == "service_healthy"
    assert services["tui"]["tty"] and services["tui"]["stdin_open"]


def test_sanctum_store_on_a_volume_and_health_by_grpc() -> None:
    sanctum = COMPOSE["services"]["sanctum"]
    assert "sanctum-data:/data" in sanctum["volumes"] and "sanctum-data" in COMPOSE["volumes"]
    assert "scripts/healthcheck.py" in sanctum["healthcheck"]["test"]
    assert "--store\", \"/data/sanctum.sqlite" in DOCKERFILE


def test_image_installs_what_the_readme_installs() -> None:
    assert "RUN make setup" in DOCKERFILE  # the same target `make test`/`make run` use
    copied = set(re.findall(r"^COPY (\S+) ", DOCKERFILE, re.M))
    for pkg in ("esper_common", "sanctum_svc", "trainer_svc", "tui_client", "gen", "proto"):
        assert pkg in copied, f"Dockerfile does not copy {pkg}"


def test_docker_compose_config_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("docker") is None:
        pytest.skip("docker CLI not installed")
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("docker compose plugin not installed (`docker compose version` failed)")
    monkeypatch.setenv("ESPER_TOKEN", "t")
    out = subprocess.run(["docker", "compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_healthcheck_script_speaks_grpc_health() -> None:
    script = [sys.executable, str(ROOT / "scripts" / "healthcheck.py")]
    with ThreadedSanctum() as s:
        ok = subprocess.run([*script, s.address], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "SERVING" in ok.stdout
    down = subprocess.run([*script, f"127.0.0.1:{free_port()}"], capture_output=True, text=True,
                          timeout=30)
    assert down.returncode == 1 and "UNAVAILABLE" in down.stderr


def test_healthcheck_script_checks_a_tls_sanctum(tmp_path: Path) -> None:
    from tests.certs import make_cert

    script = [sys.executable, str(ROOT / "scripts" / "healthcheck.py")]
    cert, key = make_cert(tmp_path, "localhost")
    with ThreadedSanctum(tls_cert=cert, tls_key=key, token="t") as s:
        target = "localhost:" + s.address.rsplit(":", 1)[1]
        ok = subprocess.run([*script, target, "--tls-ca", str(cert)], capture_output=True,
                            text=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.strip() == f"sanctum at {target}: SERVING"
        plain = subprocess.run([*script, target], capture_output=True, text=True, timeout=30)
        assert plain.returncode == 1 and "pass --tls-ca" in plain.stderr
        wrong = subprocess.run([*script, s.address, "--tls-ca", str(cert)],
                               capture_output=True, text=True, timeout=30)
        assert wrong.returncode == 1 and "not valid for the name '127.0.0.1'" in wrong.stderr
