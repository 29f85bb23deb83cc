"""Every option of every command from the environment and from a TOML config file, with
precedence flag > ESPER_* environment > config file > default; --help says so; `esper config
show` prints the effective values with secrets masked."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from esper_common import settings
from esper_common.showconfig import CLIS
from testkit import free_port

ROOT = Path(__file__).resolve().parents[2]
Factory = Callable[[], argparse.ArgumentParser]


def factory(module: str) -> Factory:
    return importlib.import_module(module).build_parser  # type: ignore[no-any-return]  # importlib returns Any


def cases() -> list[tuple[str, str, str]]:
    """(root section, module, option section/key) for every option of every command."""
    out = []
    for root, module, _name in CLIS:
        for opt in settings.options(factory(module)(), root):
            if not opt.section.startswith("config"):
                out.append((root, module, f"{opt.section}/{opt.key}"))
    return out


def _option(parser: argparse.ArgumentParser, root: str, ident: str) -> settings.Option:
    (opt,) = [o for o in settings.options(parser, root) if f"{o.section}/{o.key}" == ident]
    return opt


def _argv(root: str, opt: settings.Option, parser: argparse.ArgumentParser) -> list[str]:
    """Subcommand words, then a value for each required positional of that subcommand."""
    words = opt.section[len(root):].lstrip(".").split(".") if opt.section != root else []
    sub = dict(settings.commands(parser, root))[opt.section]
    needed = [a for a in sub._actions if not a.option_strings and a.nargs is None]
    return [w for w in words if w] + ["positional"] * len(needed)


def samples(action: argparse.Action) -> list[str]:
    """Three raw values the option accepts, as distinct as its type allows."""
    if action.choices:
        choices = [str(c) for c in action.choices]
        return [choices[0], choices[1 % len(choices)], choices[2 % len(choices)]]
    for raw in (["11", "22", "33"], ["1.5", "2.5", "3.5"], ["a:1", "b:2", "c:3"]):
        try:
            for value in raw:
                settings.convert(action, value, "test")
        except settings.SettingsError:
            continue
        return raw
    raise AssertionError(f"no sample value for {action.option_strings}")


def _toml_value(raw: str) -> str:
    try:
        float(raw)
    except ValueError:
        return json.dumps(raw)
    return raw


def resolved(make: Factory, root: str, ident: str, *, env: dict[str, str], toml: str,
             flag: list[str], tmp: Path) -> object:
    """The option's parsed value with this environment, config file and command line."""
    parser = make()
    opt = _option(parser, root, ident)
    path = tmp / f"c{time.monotonic_ns()}.toml"
    path.write_text(toml)
    argv = [*_argv(root, opt, parser)[:1], "--config", str(path),
            *_argv(root, opt, parser)[1:], *flag]
    return getattr(settings.parse_args(parser, argv, root, env), opt.action.dest)


@pytest.mark.parametrize(("root", "module", "ident"), cases(),
                         ids=[c[2] for c in cases()])
def test_every_option_from_env_and_file_with_precedence(root: str, module: str, ident: str,
                                                        tmp_path: Path) -> None:
    make = factory(module)
    opt = _option(make(), root, ident)
    table = opt.section or "all"
    words = opt.section[len(root):].lstrip(".")
    if words and "." in words:
        pytest.skip("nested subcommands take their words differently")

    def value(env: dict[str, str], toml: str, flag: list[str]) -> object:
        return resolved(make, root, ident, env=env, toml=toml, flag=flag, tmp=tmp_path)

    flagname = opt.action.option_strings[-1]
    if opt.action.nargs == 0:  # a switch
        on = settings.convert(opt.action, True, "t")
        off = settings.convert(opt.action, False, "t")
        assert value({}, "", []) == opt.action.default
        assert value({}, f"[{table}]\n{opt.key} = true\n", []) == on
        assert value({}, f"[all]\n{opt.key} = true\n", []) == on
        assert value({opt.env: "false"}, f"[{table}]\n{opt.key} = true\n", []) == off
        assert value({opt.env: "0", opt.scoped_env: "yes"}, "", []) == on
        assert value({opt.env: "off"}, "", [flagname]) == on
        return
    a, b, c = samples(opt.action)
    conv = lambda raw: settings.convert(opt.action, raw, "t")  # noqa: E731
    file_a = f"[{table}]\n{opt.key} = {_toml_value(a)}\n"
    assert value({}, "", []) == opt.action.default, "default"
    assert value({}, file_a, []) == conv(a), "file"
    assert value({}, f"[all]\n{opt.key} = {_toml_value(b)}\n" + file_a, []) == conv(a), \
        "the command's table beats [all]"
    assert value({}, f"[all]\n{opt.key} = {_toml_value(b)}\n", []) == conv(b), "[all]"
    assert value({opt.env: b}, file_a, []) == conv(b), "env beats file"
    if opt.scoped_env != opt.env:
        assert value({opt.env: b, opt.scoped_env: c}, file_a, []) == conv(c), \
            "the command's variable beats the shared one"
    assert value({opt.env: b}, file_a, [flagname, c]) == conv(c), "flag beats env"


@pytest.mark.parametrize(("root", "module", "name"), CLIS, ids=[c[2] for c in CLIS])
def test_help_names_each_variable_and_the_precedence(root: str, module: str, name: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESPER_TOKEN", "sekrit-value")
    parser = factory(module)()
    settings.annotate(parser, root, {})
    for sec, sub in settings.commands(parser, root):
        opts = [o for o in settings.options(sub, sec) if o.section == sec]
        if not opts:
            continue
        text = " ".join(sub.format_help().split())
        assert "A flag wins over the environment, which wins over the file, which wins " \
               "over the default" in text, sec
        for opt in opts:
            if opt.action.help != argparse.SUPPRESS:
                assert f"env {opt.env}" in text, (sec, opt.key)
    parser = factory(module)()
    found = settings.apply(parser, root, [], {"ESPER_TOKEN": "sekrit-value"})
    settings.annotate(parser, root, found)
    texts = [" ".join(sub.format_help().split()) for _, sub in settings.commands(parser, root)]
    assert not any("sekrit-value" in t for t in texts)
    if any(o.key == "token" for o in settings.options(parser, root)):
        assert any("now **** from env ESPER_TOKEN" in t for t in texts)


def test_bad_values_and_unknown_keys_are_one_line_errors(tmp_path: Path) -> None:
    tui = [sys.executable, "-m", "tui_client"]
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path),
           "ESPER_MAX_HZ": "fast"}
    done = subprocess.run(tui, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "ESPER_MAX_HZ: invalid value 'fast' for --max-hz" in done.stderr
    cfg = tmp_path / "c.toml"
    cfg.write_text("[tui]\nmax_hzz = 3\n")
    done = subprocess.run([*tui, "--config", str(cfg)], capture_output=True, text=True,
                          env={**env, "ESPER_MAX_HZ": ""}, timeout=60)
    assert done.returncode == 2 and "[tui] has no option 'max_hzz'" in done.stderr
    cfg.write_text("[tui\n")
    done = subprocess.run([*tui, "--config", str(cfg)], capture_output=True, text=True,
                          env={**env, "ESPER_MAX_HZ": ""}, timeout=60)
    assert done.returncode == 2 and "is not valid TOML" in done.stderr
    done = subprocess.run([*tui, "--config", str(tmp_path / "absent.toml")],
                          capture_output=True, text=True, env={**env, "ESPER_MAX_HZ": ""},
                          timeout=60)
    assert done.returncode == 2 and "absent.toml does not exist" in done.stderr


def test_a_service_reads_its_config_file_and_environment(tmp_path: Path) -> None:
    """A real esper-sanctum: port and store from the default config file, the address file
    from the environment, the log format from [all]; then `esper config show` agrees."""
    port = free_port()
    conf = tmp_path / "xdg" / "esper" / "config.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text(f'[all]\nlog_format = "json"\ntoken = "file-secret"\n'
                    f'[sanctum.serve]\nlisten = "127.0.0.1:{port}"\nstore = ":memory:"\n')
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
           "ESPER_ADDRESS_FILE": str(tmp_path / "addr"), "ESPER_SANCTUM_SERVE_VERBOSE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "sanctum_svc"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "addr").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        assert (tmp_path / "addr").read_text().strip() == f"127.0.0.1:{port}"
        shown = subprocess.run([sys.executable, "-m", "esper_common", "config", "show",
                                "sanctum.serve"], env=env, capture_output=True, text=True,
                               timeout=60)
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert f'listen = "127.0.0.1:{port}"  # file {conf} [sanctum.serve]' in lines
    assert f'token = "****"  # file {conf} [all]' in lines
    assert f'address_file = "{tmp_path / "addr"}"  # env ESPER_ADDRESS_FILE' in lines
    assert "verbose = true  # env ESPER_SANCTUM_SERVE_VERBOSE" in lines
    assert "file-secret" not in shown.stdout
    records = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert any(r["logger"] == "sanctum_svc.server" and r["msg"] == "shutting down"
               for r in records), err
