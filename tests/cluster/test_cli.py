"""`esper-sanctum serve --cluster` refuses flags that cannot work with one clear line."""

from __future__ import annotations

import pytest

from sanctum_svc.cli import main


@pytest.mark.parametrize(("args", "message"), [
    (["--store", "/tmp/x.sqlite"], "--cluster and --store exclude each other"),
    (["--cluster-replicas", "9"], "--cluster-replicas must be 1..5"),
])
def test_bad_cluster_flags_are_one_line(capsys: pytest.CaptureFixture[str], args: list[str],
                                        message: str) -> None:
    assert main(["serve", "--cluster", "nats://127.0.0.1:1", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_empty_cluster_list_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--cluster", " , "]) == 2
    assert "--cluster wants NATS addresses" in capsys.readouterr().err
