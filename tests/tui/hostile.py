"""Snapshots no valid run produces, and a real gRPC server that serves them.

A client must survive any snapshot an older or hostile server sends: timestamps past
year 9999 or before year 1 and nanos out of range, NaN/Inf and huge doubles, integers at
their limits, empty, enormous and markup-like strings, unknown enum values, absent
sub-messages. `snapshots()` generates them from the message descriptors (every field, at
every depth); `hostile_snapshot()` is one fixed snapshot holding an edge value in every
field the dashboard draws; `HostileSanctum` serves such snapshots over real gRPC.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from concurrent import futures

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import strategies as st

from esper.sanctum.v2 import sanctum_pb2 as spb
from esper.sanctum.v2 import sanctum_pb2_grpc
from esper.telemetry.v1 import telemetry_pb2 as tpb

F = FieldDescriptor
#: Timestamp seconds just outside its valid range (years 1 .. 9999), and far outside.
TS_SECONDS = (253_402_300_800, -62_135_596_801, 2**63 - 1, -(2**63), 0, 1_735_732_800)
TS_NANOS = (-1, 1_000_000_000, 2**31 - 1, -(2**31), 0, 999_999_999)
DOUBLES = (math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 0.0, 1e300, 2.0**63)
FLOAT32 = (math.nan, math.inf, -math.inf, 3.4e38, -3.4e38, 1e-45, 0.0)
#: Strings that are empty, enormous, console markup, control sequences, bidi, wide.
STRINGS = (
    "", "x" * 100_000, "[/bold]", "[red]unclosed", "[link=http://x]y[/link]", "[/]",
    "\x1b[2J\x1b[31mred\x07", "line1\nline2\r\n", "\t\x00\x7f\x9b", "\u202eevil",
    "😀" * 50, "a:b:3", ":", "—",
)
INT_EDGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1, -1, 0),
    F.TYPE_INT64: (-(2**63), 2**63 - 1, -1, 0),
    F.TYPE_UINT32: (0, 2**31, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**53, 2**63, 2**64 - 1),
}
INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
}
MAX_DEPTH = 5


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[object]:
    t = field.type
    if t == F.TYPE_DOUBLE:
        return st.one_of(st.sampled_from(DOUBLES), st.floats())
    if t == F.TYPE_FLOAT:
        return st.one_of(st.sampled_from(FLOAT32), st.floats(width=32))
    if t in INT_EDGES:
        lo, hi = INT_RANGES[t]
        return st.one_of(st.sampled_from(INT_EDGES[t]), st.integers(lo, hi))
    if t == F.TYPE_BOOL:
        return st.booleans()
    if t == F.TYPE_STRING:
        return st.one_of(st.sampled_from(STRINGS), st.text(max_size=40))
    if t == F.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-(2**31), 2**31 - 1))
    raise TypeError(f"no strategy for field {field.full_name} of type {t}")


def _timestamp() -> st.SearchStrategy[Timestamp]:
    return st.builds(
        lambda s, n: Timestamp(seconds=s, nanos=n),
        st.one_of(st.sampled_from(TS_SECONDS), st.integers(-(2**63), 2**63 - 1)),
        st.one_of(st.sampled_from(TS_NANOS), st.integers(-(2**31), 2**31 - 1)),
    )


@st.composite
def messages(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> Message:
    """Any message of `descriptor`: each field absent or set to an edge or random value,
    repeated fields with 0-3 elements, sub-messages down to MAX_DEPTH."""
    cls = _class(descriptor)
    if descriptor.full_name == "google.protobuf.Timestamp":
        return draw(_timestamp())
    msg = cls()
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue  # absent
        if field.type == F.TYPE_MESSAGE:
            if depth >= MAX_DEPTH:
                continue
            sub = field.message_type
            if sub.GetOptions().map_entry:
                key_f, value_f = sub.fields_by_name["key"], sub.fields_by_name["value"]
                target = getattr(msg, field.name)
                for _ in range(draw(st.integers(0, 3))):
                    key = draw(_scalar(key_f))
                    if value_f.type == F.TYPE_MESSAGE:
                        target[key].CopyFrom(draw(messages(value_f.message_type, depth + 1)))
                    else:
                        target[key] = draw(_scalar(value_f))
            elif field.is_repeated:
                n = draw(st.integers(0, 3))
                getattr(msg, field.name).extend(
                    draw(messages(sub, depth + 1)) for _ in range(n))
            else:
                getattr(msg, field.name).CopyFrom(draw(messages(sub, depth + 1)))
        elif field.is_repeated:
            getattr(msg, field.name).extend(draw(st.lists(_scalar(field), max_size=5)))
        else:
            setattr(msg, field.name, draw(_scalar(field)))
    return msg


def _class(descriptor: Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def snapshots() -> st.SearchStrategy[spb.SanctumSnapshot]:
    return messages(spb.SanctumSnapshot.DESCRIPTOR)  # type: ignore[return-value]  # built class


def run_summaries() -> st.SearchStrategy[spb.RunSummary]:
    return messages(spb.RunSummary.DESCRIPTOR)  # type: ignore[return-value]  # built class


def _ts(seconds: int, nanos: int = 0) -> Timestamp:
    return Timestamp(seconds=seconds, nanos=nanos)


def hostile_card(env_id: int, group_id: str) -> tpb.DecisionCard:
    card = tpb.DecisionCard(
        env_id=env_id, op=99, slot_id="[/bold]", blueprint_id="x" * 100_000,
        value_estimate=math.nan, reward=math.inf, epoch=2**32 - 1, masked_actions=2**32 - 1,
        group_id=group_id)
    card.heads.add(head=-5, action="\x1b[2J[/]", probability=1e308, entropy=math.nan)
    card.heads.add(head=tpb.ACTION_HEAD_OP, action="", probability=-math.inf)
    return card


def _hostile_update() -> tpb.PPOUpdatePayload:
    u = tpb.PPOUpdatePayload()
    for name in ("policy_loss", "value_loss", "entropy", "kl_divergence", "clip_fraction",
                 "explained_variance", "grad_norm", "pre_clip_grad_norm", "value_mean",
                 "value_std", "value_min", "value_max", "advantage_mean", "advantage_std",
                 "ratio_min", "ratio_max", "lr", "entropy_coef", "update_time_ms", "fps",
                 "step_time_ms", "cuda_memory_peak_gb", "cuda_memory_fragmentation"):
        setattr(u, name, (math.nan, math.inf, -math.inf, 1e308, -1e308)[len(name) % 5])
    u.dead_layers = u.exploding_layers = u.total_layers = 2**32 - 1
    u.inner_epoch = u.batch = u.early_stop_epoch = u.optimizer_steps = 2**32 - 1
    u.nonfinite_loss_count = u.nonfinite_grad_count = 2**32 - 1
    u.update_index = 2**64 - 1
    u.heads.add(head=tpb.ACTION_HEAD_OP, entropy=math.inf, grad_norm=math.nan)
    u.heads.add(head=tpb.ACTION_HEAD_SLOT, entropy=1e308, grad_norm=math.inf)
    u.heads.add(head=12345, entropy=-math.inf, grad_norm=1e308)
    u.gradient_cv = math.nan
    u.clip_fraction_positive, u.clip_fraction_negative = 1e308, -math.inf
    u.cuda_memory_allocated_gb, u.cuda_memory_reserved_gb = 1e308, 5e-324
    return u


def hostile_snapshot(run_id: str = "evil-run") -> spb.SanctumSnapshot:
    """One snapshot with an edge value in every field the dashboard draws."""
    huge = "x" * 100_000
    s = spb.SanctumSnapshot(run_id=run_id, version=2**64 - 1)
    run = s.run
    run.status, run.liveness, run.seconds_since_last_event = 77, 99, math.nan
    run.episodes_per_second = 1e308
    run.last_batch.CopyFrom(tpb.BatchEpochCompletedPayload(
        avg_reward=1e308, total_episodes=2**64 - 1, avg_accuracy=math.nan,
        rolling_accuracy=-math.inf, batch_idx=2**64 - 1, episodes_completed=2**64 - 1))
    s.generated_at.CopyFrom(_ts(2**63 - 1))
    run.last_event_time.CopyFrom(_ts(-62_135_596_801))
    run.started_at.CopyFrom(_ts(0, -1))
    cfg = run.config
    cfg.seed = -(2**63)
    cfg.n_episodes, cfg.lr, cfg.clip_ratio, cfg.entropy_coef = 2**32 - 1, math.nan, math.inf, 1e308
    cfg.param_budget, cfg.resume_path, cfg.task = 2**64 - 1, "\x1b]0;pwned\x07" + huge, huge
    cfg.task = "[/bold]" + huge
    cfg.entropy_anneal.kind, cfg.entropy_anneal.start = 99, math.nan
    cfg.entropy_anneal.anneal_episodes = 2**32 - 1
    cfg.n_envs, cfg.compile_enabled = 2**32 - 1, True
    cfg.compile_backend, cfg.compile_mode = huge, "[/]"
    cfg.slot_ids.extend(["[/bold]", "r0c0", "", huge])
    cfg.heads.add(head=tpb.ACTION_HEAD_OP, n_actions=2**32 - 1)
    cfg.heads.add(head=999, n_actions=2)
    cfg.heads.add(head=tpb.ACTION_HEAD_SLOT, n_actions=2)
    t = s.tamiyo.groups.add(group_id="[/bold]A", updates=2**64 - 1)
    t.last_update.CopyFrom(_hostile_update())
    t.last_measured.CopyFrom(_hostile_update())
    t.last_decision.CopyFrom(hostile_card(3, t.group_id))
    other = s.tamiyo.groups.add(group_id="[red]B" + huge)
    other.last_update.kl_divergence = math.nan
    other.last_decision.CopyFrom(hostile_card(3, other.group_id))
    s.tamiyo.groups.add()  # a group with nothing set at all
    s.decisions.recent.extend([hostile_card(3, t.group_id), hostile_card(2**32 - 1, ""),
                               tpb.DecisionCard()])
    h = s.histories
    for env_id, group in ((3, t.group_id), (2**32 - 1, "[/bold]"), (0, "a:b:3")):
        env = s.envs.envs.add(env_id=env_id, group_id=group, best_accuracy=1e308,
                              cumulative_reward=math.inf, epoch=2**32 - 1,
                              episode=2**64 - 1)
        env.last_epoch.CopyFrom(tpb.EpochCompletedPayload(
            val_accuracy=math.nan, reward=-math.inf, val_loss=1e308, train_loss=math.nan,
            host_params=2**64 - 1))
        h.series.add(metric="epoch_completed.val_accuracy", group_id=group, env_id=env_id,
                     values=[math.nan, math.inf, -3.4e38, 3.4e38, 0.0])
        h.series.add(metric="epoch_completed.reward", group_id=group, env_id=env_id,
                     values=[-math.inf] * 3)
        env.seeds["[/bold]"].CopyFrom(tpb.SeedTelemetry(
            slot_id="[/bold]", stage=42, blueprint_id=huge, seed_id="[/]",
            alpha=math.nan, accuracy_delta=math.inf, epochs_in_stage=2**32 - 1,
            params=2**64 - 1, grad_norm=1e308, counterfactual=-math.inf))
        env.seeds["r0c0"].CopyFrom(tpb.SeedTelemetry(stage=tpb.SEED_STAGE_PRUNED,
                                                     blueprint_id="\x1b[2J"))
    s.envs.mean_reward = math.inf
    for name in ("policy_loss", "value_loss", "entropy", "kl_divergence", "grad_norm"):
        h.series.add(metric=f"ppo_update.{name}", group_id=t.group_id,
                     values=[math.nan, math.inf, -3.4e38, 3.4e38, 1.0])
    h.series.add(metric="[/bold]" + huge, values=[1e308] * 3)  # a series no client knows
    for seconds, nanos in zip(TS_SECONDS, TS_NANOS, strict=True):
        s.event_log.entries.add(timestamp=_ts(seconds, nanos), event_type=999, severity=-7,
                                env_id=2**32 - 1, group_id="[/bold]", message="[/]" + huge)
    s.event_log.entries.add(event_type=tpb.EVENT_TYPE_SEED_PRUNED,
                            message="no timestamp at all")
    s.lifecycle.germinated = s.lifecycle.fossilized = s.lifecycle.pruned = 2**64 - 1
    d = s.delivery
    d.events_received = d.events_applied = d.gap_events = d.producer_dropped = 2**64 - 1
    d.producers.add(producer_id="[/bold]" + huge, last_seq=2**64 - 1, gap_events=2**64 - 1,
                    dropped_total=2**64 - 1)
    v = s.vitals
    v.cpu_percent, v.ram_used_gb, v.ram_total_gb = math.nan, 1e308, 5e-324
    v.process_rss_gb = math.inf
    v.gpu_memory_used_gb, v.gpu_memory_total_gb, v.gpu_utilization = 1e308, -0.0, math.inf
    run.completion.CopyFrom(tpb.TrainingCompletedPayload(
        total_episodes=2**64 - 1, final_accuracy=math.nan, final_avg_reward=math.inf,
        wall_time_s=math.inf, status="error: [/bold]\x1b[2J" + huge))
    return s


def hostile_runs() -> list[spb.RunSummary]:
    """Run summaries with unknown enum values, huge numbers and markup-like ids."""
    return [
        spb.RunSummary(run_id="evil-run", task="[/bold]" + "x" * 100_000, liveness=99,
                       status=77, episodes_completed=2**64 - 1, total_episodes=2**64 - 1,
                       n_envs=2**32 - 1, group_ids=["[/]"], events_applied=2**64 - 1,
                       last_event_time=_ts(2**63 - 1)),
        spb.RunSummary(run_id="[/bold]other", liveness=-1, status=-1),
    ]


class _Servicer(sanctum_pb2_grpc.SanctumServiceServicer):
    def __init__(self, owner: HostileSanctum) -> None:
        self.owner = owner

    def ListRuns(self, request, context):  # noqa: N802, ANN001, ANN201
        return spb.ListRunsResponse(runs=self.owner.runs)

    def GetSnapshot(self, request, context):  # noqa: N802, ANN001, ANN201
        return spb.GetSnapshotResponse(snapshot=self.owner.snapshots[-1])

    def WatchSnapshots(self, request, context) -> Iterator[spb.WatchSnapshotsResponse]:  # noqa: N802, ANN001
        self.owner.watch_requests.append(request)
        for snap in self.owner.snapshots:
            yield spb.WatchSnapshotsResponse(snapshot=snap)
        hb = spb.Heartbeat(version=2**64 - 1, liveness=99, seconds_since_last_event=math.inf)
        hb.server_time.CopyFrom(_ts(-(2**63), 2**31 - 1))
        while not self.owner.stopped.wait(0.1) and context.is_active():
            yield spb.WatchSnapshotsResponse(heartbeat=hb)


class HostileSanctum:
    """A real gRPC server on loopback speaking esper.sanctum.v2 with hostile content (what
    an old or compromised sanctum could send): not a mock of the client's transport."""

    def __init__(self, snapshots: Sequence[spb.SanctumSnapshot],
                 runs: Sequence[spb.RunSummary] = ()) -> None:
        self.snapshots = list(snapshots)
        self.runs = list(runs)
        self.watch_requests: list[spb.WatchSnapshotsRequest] = []
        self.stopped = threading.Event()
        self._server = grpc.server(futures.ThreadPoolExecutor(8), options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024)])
        sanctum_pb2_grpc.add_SanctumServiceServicer_to_server(_Servicer(self), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"

    def __enter__(self) -> HostileSanctum:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self._server.stop(0.5).wait(5)
