"""Containers: each service image installs only its extra, from a multi-stage Dockerfile, and
compose runs them (a GPU reserved for the trainer on request).

No Docker engine runs here, so the Dockerfile is read (tests/e2e/dockerfile.py) and what each
stage installs is resolved from the installed package metadata; `docker compose config` runs
only where the compose plugin exists; the healthcheck script is run for real. The sizes of
what each image installs come from tests/contracts/test_extras.py (fresh venvs).
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from testkit import ThreadedSanctum, free_port
from tests.e2e.dockerfile import Dockerfile

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
GPU = yaml.safe_load((ROOT / "compose.gpu.yaml").read_text())
DOCKER = Dockerfile.parse(ROOT / "Dockerfile")
#: service image -> (its venv stage, the extra it installs, distributions it must not hold)
SERVICES = {
    "sanctum": ("sanctum-venv", "server", {"torch", "textual", "psutil"}),
    "tui": ("tui-venv", "web", {"torch", "prometheus-client", "psutil"}),
    "trainer": ("trainer-venv", "trainer", {"textual", "prometheus-client"}),
}
DEV_TOOLS = {"pytest", "ruff", "grpcio-tools", "buf-bin", "hypothesis", "playwright"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(extras: set[str]) -> set[str]:
    """Every distribution `pip install esper-sanctum[extras]` installs (from metadata)."""
    seen: set[tuple[str, str]] = set()
    todo = [("esper-sanctum", e) for e in extras | {""}]
    names: set[str] = set()
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        names.add(name)
        for text in importlib.metadata.distribution(name).requires or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": extra}):
                continue
            if req.marker is None and extra:
                continue  # a base requirement: added with extra ""
            todo += [(canonical(req.name), e) for e in req.extras | {""}]
    return names


def extra_of(stage: str) -> str:
    (install,) = [w for w in DOCKER.pip_installs(stage) if any("/wheels/" in x for x in w)]
    (spec,) = [w for w in install if "/wheels/" in w]
    extra = re.search(r"\[(.+)\]$", spec).group(1)  # type: ignore[union-attr]  # the spec always names its extra
    return re.sub(r"\$\{(\w+)\}", lambda m: DOCKER.arg(stage, m.group(1)), extra)


def test_compose_runs_each_service_from_its_dockerfile_target() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"sanctum", "trainer", "tui"}
    for name, svc in services.items():
        assert svc["build"]["target"] == name and name in DOCKER.stages
        assert "ESPER_TOKEN" in svc["environment"], f"{name} must take its token from the env"
    assert services["trainer"]["depends_on"]["sanctum"]["condition"] == "service_healthy"
    assert services["trainer"]["environment"]["ESPER_SANCTUM"] == "sanctum:50051"
    assert services["tui"]["tty"] and services["tui"]["stdin_open"]


@pytest.mark.parametrize("service", list(SERVICES))
def test_each_image_holds_only_its_extra(service: str) -> None:
    venv_stage, extra, forbidden = SERVICES[service]
    assert extra_of(venv_stage) == extra
    holds = closure(set(extra.split(",")))
    assert not holds & forbidden, holds & forbidden
    assert not holds & DEV_TOOLS, holds & DEV_TOOLS
    if service == "trainer":
        assert "torch" in holds
    # The runtime image: the slim Python, the venv copied from its stage, nothing built there.
    chain = DOCKER.chain(service)
    assert [s.name for s in chain] == [service, "runtime"]
    assert DOCKER.image(service) == "python:3.11-slim"
    for stage in chain:
        assert not DOCKER.pip_installs(stage.name), f"{stage.name} installs packages"
        for copy in stage.all("COPY"):
            assert copy.startswith("--from=") or copy.startswith("scripts/healthcheck.py"), copy
    assert f"--from={venv_stage} /opt/venv /opt/venv" in DOCKER.stages[service].all("COPY")


def test_installs_are_pinned_and_leave_no_pip_cache() -> None:
    stages = [s for s in DOCKER.stages if s.endswith("-venv")] + ["wheel"]
    for stage in stages:
        installs = DOCKER.pip_installs(stage)
        for words in installs:
            assert "--no-cache-dir" in words, (stage, words)
            if any("/wheels/" in w for w in words):
                assert words[words.index("-c") + 1] == "/constraints.txt", (stage, words)
        assert all("--no-cache-dir" in run for run in DOCKER.stages[stage].all("RUN")
                   if "pip " in run), stage
    assert "COPY . " not in (ROOT / "Dockerfile").read_text()


def test_trainer_image_takes_the_torch_index_as_a_build_argument() -> None:
    assert DOCKER.arg("trainer-venv", "TORCH_INDEX_URL") == "https://download.pytorch.org/whl/cpu"
    (torch,) = [w for w in DOCKER.pip_installs("trainer-venv") if "torch==${TORCH_VERSION}" in w]
    assert torch[torch.index("--index-url") + 1] == "${TORCH_INDEX_URL}"
    gpu = GPU["services"]["trainer"]
    assert "whl/cu" in gpu["build"]["args"]["TORCH_INDEX_URL"]
    assert "gpu" in gpu["build"]["args"]["TRAINER_EXTRAS"].split(",")
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert device["count"] == 1 and gpu["environment"]["ESPER_DEVICE"] == "cuda"


def test_images_run_as_a_user_and_sanctum_has_a_grpc_health_check() -> None:
    runtime = DOCKER.stages["runtime"]
    assert runtime.all("USER") == ["esper"]
    assert any("useradd" in run for run in runtime.all("RUN"))
    for service in SERVICES:
        assert not DOCKER.stages[service].all("USER"), f"{service} switches user"
    sanctum = DOCKER.stages["sanctum"]
    (check,) = sanctum.all("HEALTHCHECK")
    assert '"/opt/esper/healthcheck.py", "127.0.0.1:50051"' in check
    assert "scripts/healthcheck.py /opt/esper/healthcheck.py" in sanctum.all("COPY")
    assert "ESPER_STORE=/data/sanctum.sqlite" in " ".join(sanctum.all("ENV"))
    compose = COMPOSE["services"]["sanctum"]
    assert "/opt/esper/healthcheck.py" in compose["healthcheck"]["test"]
    assert "sanctum-data:/data" in compose["volumes"] and "sanctum-data" in COMPOSE["volumes"]


def test_docker_compose_config_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("docker") is None:
        pytest.skip("docker CLI not installed")
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("docker compose plugin not installed (`docker compose version` failed)")
    monkeypatch.setenv("ESPER_TOKEN", "t")
    for files in (["compose.yaml"], ["compose.yaml", "compose.gpu.yaml"]):
        args = [x for f in files for x in ("-f", str(ROOT / f))]
        out = subprocess.run(["docker", "compose", *args, "config", "-q"],
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
