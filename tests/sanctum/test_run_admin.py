"""Run management: ListRuns filter and paging, DeleteRun (write token only), retention."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import grpc
import pytest

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2.sanctum_pb2_grpc import SanctumServiceStub
from sanctum_svc.run_admin import RetentionPolicy
from sanctum_svc.store_check import check_store
from testkit.events import build_run_events
from testkit.servers import ThreadedSanctum


def _runs(s: ThreadedSanctum, **request: object) -> spb.ListRunsResponse:
    with s.channel() as ch:
        return s.stub(ch).ListRuns(spb.ListRunsRequest(**request), metadata=s.metadata,
                                   timeout=10)


def _ids(reply: spb.ListRunsResponse) -> list[str]:
    return [r.run_id for r in reply.runs]


def test_list_runs_filters_by_name_and_status_and_pages() -> None:
    with ThreadedSanctum() as s:
        for name in ("alpha-1", "alpha-2", "beta-1"):
            events = build_run_events(name, completed=name != "alpha-2")
            events[0].training_started.config.tags.extend([f"tag-{name}", "lr-sweep"])
            s.ingest(events)
        assert sorted(_ids(_runs(s, filter="ALPHA"))) == ["alpha-1", "alpha-2"]
        assert _runs(s, filter="alpha").total_size == 2
        assert _ids(_runs(s, filter="alpha", statuses=[spb.RUN_STATUS_RUNNING])) == ["alpha-2"]
        assert sorted(_ids(_runs(s, statuses=[spb.RUN_STATUS_COMPLETED]))) == [
            "alpha-1", "beta-1"]
        assert sorted(_ids(_runs(s, filter="cifar"))) == ["alpha-1", "alpha-2", "beta-1"]
        assert _ids(_runs(s, filter="gamma")) == []
        assert _ids(_runs(s, filter="TAG-BETA")) == ["beta-1"]
        assert len(_runs(s, filter="sweep").runs) == 3
        assert list(_runs(s, filter="beta").runs[0].tags) == ["tag-beta-1", "lr-sweep"]
        first = _runs(s, filter="-1", page_size=1)
        second = _runs(s, filter="-1", page_size=1, page_token=first.next_page_token)
        assert sorted(_ids(first) + _ids(second)) == ["alpha-1", "beta-1"]
        assert not second.next_page_token
        summary = _runs(s, filter="beta").runs[0]
        assert summary.HasField("rolling_accuracy") and summary.HasField("started_at")
        with pytest.raises(grpc.RpcError) as err:
            _runs(s, filter="x" * 300)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_delete_run_needs_the_write_token_and_removes_everything(tmp_path: Path) -> None:
    path = str(tmp_path / "d.sqlite")
    with ThreadedSanctum(store=path, token="w", read_token="r") as s:
        s.ingest(build_run_events("keep", n_batches=3, completed=True))
        s.ingest(build_run_events("gone", n_batches=3, completed=True))
        with grpc.insecure_channel(s.address) as ch:
            stub = SanctumServiceStub(ch)
            with pytest.raises(grpc.RpcError) as err:
                stub.DeleteRun(spb.DeleteRunRequest(run_id="gone"),
                               metadata=(("authorization", "Bearer r"),), timeout=10)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "DeleteRun" in (err.value.details() or "")
            assert "gone" in _ids(_runs(s))
            reply = stub.DeleteRun(spb.DeleteRunRequest(run_id="gone"),
                                   metadata=(("authorization", "Bearer w"),), timeout=10)
            assert reply.events_deleted == len(build_run_events("gone", n_batches=3,
                                                                completed=True))
            with pytest.raises(grpc.RpcError) as err:
                stub.Series(spb.SeriesRequest(run_id="gone"),
                            metadata=(("authorization", "Bearer w"),), timeout=10)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert _ids(_runs(s)) == ["keep"]
    with sqlite3.connect(path) as db:
        for table in ("batches", "drops", "delivery", "series"):
            assert db.execute(f"SELECT count(*) FROM {table} WHERE run_id = 'gone'"
                              ).fetchone()[0] == 0, table
        assert db.execute("SELECT count(*) FROM series_blocks WHERE series_id NOT IN "
                          "(SELECT id FROM series)").fetchone()[0] == 0
    assert check_store(path).ok
    # Neither a restart from the checkpoint nor a full replay brings it back.
    with ThreadedSanctum(store=path, token="w") as s:
        assert _ids(_runs(s)) == ["keep"]
        assert s.snapshot("keep").run.status == spb.RUN_STATUS_COMPLETED
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM checkpoints")
    with ThreadedSanctum(store=path, token="w") as s:
        assert _ids(_runs(s)) == ["keep"]


def test_retention_deletes_only_finished_runs_past_the_limits(tmp_path: Path) -> None:
    path = str(tmp_path / "r.sqlite")
    with ThreadedSanctum(store=path) as s:
        for name in ("old-1", "old-2", "new-1"):
            s.ingest(build_run_events(name, completed=True))
        s.ingest(build_run_events("live"))  # still running: never deleted
    # Keep the newest finished run only (the runs' receive times order them).
    with ThreadedSanctum(store=path, retain_runs=1) as s:
        assert sorted(_ids(_runs(s))) == ["live", "new-1"]
    # Nothing finished is older than a day; then pretend a week passed.
    with ThreadedSanctum(store=path, retain_days=1.0) as s:
        assert sorted(_ids(_runs(s))) == ["live", "new-1"]
        assert s.server is not None and s.server.admin is not None
        deleted = s.call(s.server.admin.apply_retention(
            RetentionPolicy(days=1.0), now=time.time() + 7 * 86400))
        assert deleted == 1 and _ids(_runs(s)) == ["live"]
