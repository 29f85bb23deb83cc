"""The typed emitters against the contract's descriptors: one per event type, keyword
arguments named as the proto fields, every field set as given (through a real client)."""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

import esper_client
from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.emitters import ENVELOPE, Emitters, emitter_name, envelope_params
from esper_common.eventfile import read_batches
from esper_common.events import PAYLOAD_FOR_TYPE

F = FieldDescriptor
PAYLOADS = {f.name: f.message_type
            for f in tpb.TelemetryEvent.DESCRIPTOR.oneofs_by_name["payload"].fields}
EVENT_TYPES = [t for t in tpb.EventType.values() if t != tpb.EVENT_TYPE_UNSPECIFIED]


def sample(f: FieldDescriptor, depth: int = 0) -> Any:
    """A value for field `f` that differs from its default (recursing into messages)."""
    if f.type == F.TYPE_MESSAGE:
        one = {g.name: sample(g, depth + 1) for g in f.message_type.fields} if depth < 3 else {}
        return [one, one] if f.is_repeated else one
    value: Any
    if f.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        value = 1.5
    elif f.type == F.TYPE_BOOL:
        value = True
    elif f.type == F.TYPE_STRING:
        value = f"{f.name}-x"
    elif f.type == F.TYPE_ENUM:
        value = f.enum_type.values[-1].number
    else:
        value = 7
    return [value, value] if f.is_repeated else value


def expected_payload(desc: Descriptor, values: dict[str, Any]) -> Any:
    return getattr(tpb, desc.name)(**values)


def test_one_emitter_per_event_type_with_the_proto_field_names() -> None:
    assert set(PAYLOAD_FOR_TYPE) == set(EVENT_TYPES)  # every type carries a payload
    for event_type in EVENT_TYPES:
        desc = PAYLOADS[PAYLOAD_FOR_TYPE[event_type]]
        method = getattr(Emitters, emitter_name(event_type))
        params = list(inspect.signature(method).parameters.values())[1:]
        assert all(p.kind is p.KEYWORD_ONLY and p.default is None for p in params)
        env = envelope_params(desc)
        assert [p.name for p in params] == [f.name for f in desc.fields] + list(env.values())
        assert set(env) == set(ENVELOPE)


def test_every_field_reaches_the_event(tmp_path: Path) -> None:
    path = tmp_path / "all.events"
    run = esper_client.init(file_path=str(path), run_id="emitters")
    sent: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    for k, event_type in enumerate(EVENT_TYPES):
        desc = PAYLOADS[PAYLOAD_FOR_TYPE[event_type]]
        values = {f.name: sample(f) for f in desc.fields}
        env = envelope_params(desc)
        envelope = {"env_id": 1, "epoch": 2 + k, "episode": 3, "batch": 4, "group_id": "B",
                    "severity": tpb.SEVERITY_WARNING}
        getattr(run, emitter_name(event_type))(
            **values, **{env[name]: v for name, v in envelope.items()})
        sent.append((event_type, values, envelope))
    run.close()
    events = [e for b in read_batches(path) for e in b.events][1:]  # after the declaration
    assert len(events) == len(sent)
    for ev, (event_type, values, envelope) in zip(events, sent, strict=True):
        name = PAYLOAD_FOR_TYPE[event_type]
        assert ev.event_type == event_type and ev.WhichOneof("payload") == name
        assert getattr(ev, name) == expected_payload(PAYLOADS[name], values), name
        for field, value in envelope.items():
            assert getattr(ev, field) == value, (name, field)


def test_non_finite_doubles_are_left_out_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "nan.events"
    run = esper_client.init(file_path=str(path), run_id="nan")
    run.ppo_update_completed(policy_loss=math.nan, value_loss=0.5, gradient_cv=math.inf)
    run.batch_epoch_completed(env_accuracies=[0.5, math.nan, 0.25])
    run.close()
    assert run.stats()["nonfinite"] == 3
    ppo, batch = [e for b in read_batches(path) for e in b.events][1:]
    assert not ppo.ppo_update.HasField("gradient_cv") and ppo.ppo_update.value_loss == 0.5
    assert list(batch.batch_epoch_completed.env_accuracies) == [0.5, 0.25]


def test_a_misspelt_field_raises_a_wrong_value_is_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "x.events"
    run = esper_client.init(file_path=str(path), run_id="bad")
    with pytest.raises(TypeError, match="val_acuracy"):
        run.epoch_completed(val_acuracy=0.5)  # at the call: Python names the parameter
    run.epoch_completed(val_accuracy="high")  # never raises in the training loop
    run.epoch_completed(val_accuracy=0.75, env_id=0)
    run.close()
    assert run.stats()["rejected"] == 1
    assert "cannot build event" in caplog.text
    events = [e for b in read_batches(path) for e in b.events]
    assert [e.epoch_completed.val_accuracy for e in events[1:]] == [0.75]
