"""Typed emitters, one per event type of the contract, generated from its descriptors.

    run.epoch_completed(val_accuracy=0.91, val_loss=0.3, env_id=2, epoch=17)
    run.seed_germinated(slot_id="r0c1", blueprint_id="lora", env_id=2)

Each emitter is named after its event type (EVENT_TYPE_SEED_PRUNED -> `seed_pruned`) and
takes its payload's fields as keyword arguments named as in the .proto, then the envelope's:
`env_id`, `epoch`, `episode`, `batch`, `group_id`, `severity` (a payload field of the same
name wins; the envelope's is then `event_<name>`, e.g. PPO's `event_batch`). An argument
left out (None) stays unset: absent for `optional` fields. Sub-messages are given as
messages or dicts. Doubles must be finite: a NaN or infinity is left out and counted
(`run.stats()["nonfinite"]`) rather than getting the event refused by sanctum.

An emitter only hands its arguments to the sender thread, which builds the event: the
caller's cost does not grow with the payload. Do not change a list or dict after passing
it. A misspelt keyword raises TypeError at the call; a value of the wrong type makes the
event unbuildable: it is counted in stats()["rejected"] and logged once.

The functions are generated once, at import, from the descriptors, so their signatures
are real (`help(run.ppo_update_completed)`) and they cannot drift from the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from esper.telemetry.v1 import telemetry_pb2 as tpb
from esper_client.deferred import Call, Deferred, Pool
from esper_common.events import PAYLOAD_FOR_TYPE

#: Envelope fields an emitter takes (run_id, producer_id, seq and timestamp are the
#: client's).
ENVELOPE = ("env_id", "epoch", "episode", "batch", "group_id", "severity")
_F = FieldDescriptor
_DOUBLES = (_F.TYPE_DOUBLE, _F.TYPE_FLOAT)


def emitter_name(event_type: int) -> str:
    return tpb.EventType.Name(event_type).removeprefix("EVENT_TYPE_").lower()


def envelope_params(payload: Descriptor) -> dict[str, str]:
    """Envelope field -> its keyword in the emitter of `payload` (see module docstring)."""
    taken = set(payload.fields_by_name)
    return {name: f"event_{name}" if name in taken else name for name in ENVELOPE}


def _sub(cls: type[Message], value: Any) -> Message:
    """A sub-message from a message of its type or a dict of its fields."""
    if isinstance(value, Message):
        return value
    if isinstance(value, Mapping):
        return cls(**value)
    raise TypeError(f"expected a {cls.__name__} or a dict, got {type(value).__name__}")


def _add_subs(field: Any, values: Iterable[Any]) -> None:
    """Append messages (copied) or dicts (built in place) to a repeated message field."""
    add = field.add
    for v in values:
        if isinstance(v, Message):
            field.append(v)
        elif isinstance(v, Mapping):
            add(**v)
        else:
            raise TypeError(f"expected a message or a dict, got {type(v).__name__}")


def _field_lines(f: FieldDescriptor, var: str) -> list[str]:
    """Source setting field `f` of payload `p` from argument `var` (not None)."""
    name = f.name
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        return [f"    p.{name}.update({var})"]
    if f.type == _F.TYPE_MESSAGE and f.message_type is not None:
        cls = f"_M[{f.message_type.full_name!r}]"
        if f.is_repeated:
            return [f"    _add_subs(p.{name}, {var})"]
        return [f"    p.{name}.CopyFrom(_sub({cls}, {var}))"]
    if f.type in _DOUBLES:
        if f.is_repeated:
            return [f"    xs = [float(x) for x in {var}]",
                    "    ok = [x for x in xs if x - x == 0.0]",
                    "    if len(ok) < len(xs):",
                    "        run._nonfinite += len(xs) - len(ok)",
                    f"    p.{name}.extend(ok)"]
        return [f"    x = float({var})",
                "    if x - x == 0.0:",
                f"        p.{name} = x",
                "    else:",
                "        run._nonfinite += 1"]
    if f.is_repeated:
        return [f"    p.{name}.extend({var})"]
    return [f"    p.{name} = {var}"]


def _source(event_type: int, payload_name: str, desc: Descriptor) -> str:
    """Source of the emitter `<name>(self, *, <fields>)`, which hands its arguments to the
    sender thread, and of `_build_<name>(run, <fields>)`, which the sender thread runs to
    build the event (so the caller's thread pays for the hand-off only)."""
    fn = emitter_name(event_type)
    env = envelope_params(desc)
    params = [f.name for f in desc.fields] + list(env.values())
    args = ", ".join(params)
    lines = [f"def {fn}(self, *, {', '.join(f'{p}=None' for p in params)}):",
             f"    self._defer_call({event_type}, _build_{fn}, (self, {args}))",
             "",
             f"def _build_{fn}(run, {args}):",
             # filled in place: a payload built apart would be copied into the event
             f"    ev = _Event(event_type={event_type})",
             f"    p = ev.{payload_name}",
             "    p.SetInParent()"]
    for f in desc.fields:
        lines.append(f"    if {f.name} is not None:")
        lines += ["    " + line for line in _field_lines(f, f.name)]
    for field, param in env.items():
        lines += [f"    if {param} is not None:", f"        ev.{field} = {param}"]
    lines += ["    return ev", ""]
    return "\n".join(lines)


def _doc(event_type: int, payload_name: str, desc: Descriptor) -> str:
    kind = tpb.EventType.Name(event_type).removeprefix("EVENT_TYPE_")
    return (f"Emit {kind} ({desc.name} in `{payload_name}`): keyword arguments are its "
            "fields, then the envelope's; None leaves one unset. Never blocks.")


def generate() -> dict[str, Callable[..., None]]:
    """Emitter name -> function(self, **fields), for every event type of the contract."""
    oneof = tpb.TelemetryEvent.DESCRIPTOR.oneofs_by_name["payload"]
    payloads: dict[str, Descriptor] = {f.name: cast(Descriptor, f.message_type)
                                       for f in oneof.fields}
    messages: dict[str, type[Message]] = {}

    def collect(d: Descriptor) -> None:
        if d.full_name in messages:
            return
        messages[d.full_name] = getattr(tpb, d.name)
        for f in d.fields:
            sub = f.message_type
            if sub is not None and not sub.GetOptions().map_entry and sub.file is d.file:
                collect(sub)

    out: dict[str, Callable[..., None]] = {}
    for event_type, payload_name in sorted(PAYLOAD_FOR_TYPE.items()):
        desc = payloads[payload_name]
        collect(desc)
        env: dict[str, Any] = {"_M": messages, "_Event": tpb.TelemetryEvent, "_sub": _sub,
                               "_add_subs": _add_subs}
        exec(_source(event_type, payload_name, desc), env)  # noqa: S102 (from descriptors)
        name = emitter_name(event_type)
        fn = env[name]
        fn.__doc__ = _doc(event_type, payload_name, desc)
        out[name] = fn
        BUILDERS[name] = env[f"_build_{name}"]
    return out


class Emitters:
    """Mixin: the typed emitters as methods. The class using it provides
    `_defer(item)` (TelemetryClient.emit_deferred) and a `_nonfinite` counter the
    builders add to."""

    _nonfinite: int = 0
    _calls: Pool[Call]

    def _defer(self, item: Deferred) -> None:  # pragma: no cover - provided by the user
        raise NotImplementedError

    def _defer_call(self, event_type: int, fn: Callable[..., tpb.TelemetryEvent],
                    args: tuple[Any, ...]) -> None:
        """Hand `fn(*args)` to the sender in a recycled carrier."""
        call = self._calls.take()
        call.event_type = event_type
        call.fn = fn
        call.args.extend(args)
        self._defer(call)


#: Emitter name -> its builder `(run, *fields) -> TelemetryEvent`, run by the sender.
BUILDERS: dict[str, Callable[..., tpb.TelemetryEvent]] = {}
EMITTERS = generate()
for _name, _fn in EMITTERS.items():
    setattr(Emitters, _name, _fn)
