"""`esper-trainer`: train Tamiyo on the morphogenetic task and stream its telemetry.

    esper-trainer --sanctum HOST:PORT --episodes N --envs K --seed S [--device cpu|cuda]
                  [--compile] [--token T] [--tls-ca FILE] [--run-id ID]
                  [--events-file PATH] [--no-telemetry]

Without --sanctum, events go to a local event file; load it later with
`esper-sanctum ingest FILE --server HOST:PORT`. Runs under `torchrun` too: each rank
reads the torch.distributed environment and trains its share of the envs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import signal
import threading
import types
from pathlib import Path
from typing import Any, Literal

from esper_common import logs, settings
from trainer_svc.config import TrainerConfig, config_fields
from trainer_svc.distributed import DistInfo, init_from_env, share_run_id, shutdown

CLOSE_TIMEOUT_S = 10.0


class UserError(Exception):
    """A problem the user can fix; printed without a traceback, exit code 2."""


def _optional_float(text: str) -> float | None:
    if text.lower() in ("none", "off", ""):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None


#: --sender choices -> TelemetryConfig.sender_process.
SENDERS: dict[str, bool | Literal["auto"]] = {"auto": "auto", "thread": False, "process": True}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="esper-trainer", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    out = p.add_argument_group("telemetry")
    out.add_argument("--sanctum", metavar="HOST:PORT[,HOST:PORT...]",
                     help="stream telemetry to this esper-sanctum (omit: write an event "
                          "file); several replicas of a cluster, comma-separated, are "
                          "tried in turn when one fails")
    out.add_argument("--token", help="bearer token for sanctum")
    out.add_argument("--tls-ca", metavar="FILE",
                     help="CA certificate (PEM) to verify sanctum's TLS")
    out.add_argument("--events-file", metavar="PATH",
                     help="event file to write without --sanctum (default: ./<run-id>.events)")
    out.add_argument("--spool-dir", metavar="DIR",
                     help="where undeliverable events spill during an outage (default: cache)")
    out.add_argument("--sender", choices=SENDERS, default="auto",
                     help="where the telemetry client's sender runs: 'process' (a child "
                          "process, so its work and gRPC's threads never hold the training "
                          "process's interpreter lock; needs a spare CPU), 'thread' (in the "
                          "trainer), or 'auto': a process when the trainer may use 2+ CPUs, "
                          "else a thread (default auto; `python -m bench trainer` compares "
                          "them)")
    out.add_argument("--no-telemetry", action="store_true",
                     help="emit nothing (for overhead comparisons)")
    run = p.add_argument_group("run")
    run.add_argument("--save", metavar="PATH", help="save the trained policy checkpoint here")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    logs.add_flags(p)
    train = p.add_argument_group("training (TrainerConfig)")
    faults = p.add_argument_group(
        "fault injection", "testing aids for health rules: deliberately break a run "
        "(absurd --lr and --entropy-coef 0 --entropy-coef-end none are other such faults)")
    for f in config_fields():
        flag = "--" + f.name.replace("_", "-")
        shown = {None: "generated" if f.name == "run_id" else "none"}.get(f.default, f.default)
        help_text = f.metadata["help"] + f" (default: {shown})"
        group = faults if f.metadata.get("group") == "fault injection" else train
        if f.type in ("bool", bool):
            group.add_argument(flag, action="store_true", default=f.default, help=help_text)
        elif f.type in ("float | None",):
            group.add_argument(flag, type=_optional_float, default=f.default, metavar="X|none",
                               help=help_text)
        elif f.type in ("int | None",):
            group.add_argument(flag, type=int, default=f.default, metavar="N", help=help_text)
        elif f.type in ("str | None",):
            group.add_argument(flag, default=f.default, help=help_text)
        else:
            kind = {"int": int, "float": float, "str": str}[str(f.type)]
            group.add_argument(flag, type=kind, default=f.default, help=help_text)
    return p


def config_from_args(ns: argparse.Namespace) -> TrainerConfig:
    values = {f.name: getattr(ns, f.name) for f in config_fields()}
    cfg = TrainerConfig(**values)
    try:
        cfg.validate()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return cfg


def make_telemetry(ns: argparse.Namespace, run_id: str, info: DistInfo
                   ) -> tuple[Any, str | None]:
    """(client, event file path or None) for the chosen telemetry mode."""
    from esper_client import NullTelemetry, TelemetryClient, TelemetryConfig

    if ns.no_telemetry:
        return NullTelemetry(), None
    if ns.tls_ca and not Path(ns.tls_ca).is_file():
        raise UserError(f"--tls-ca {ns.tls_ca}: no such file")
    path = None
    if not ns.sanctum:
        path = ns.events_file or f"{run_id}.events"
        if info.enabled:
            path = f"{path}.rank{info.rank}"
        if Path(path).exists():
            from esper_common.eventfile import EventFileError, open_append

            try:
                open_append(path).close()  # appending to a file of this format only
            except (EventFileError, OSError) as exc:
                raise UserError(str(exc)) from None
    try:
        cfg = TelemetryConfig(target=ns.sanctum, run_id=run_id, producer_id=info.producer_id(),
                              token=ns.token, tls_ca=ns.tls_ca, file_path=path,
                              spool_dir=ns.spool_dir,
                              sender_process=SENDERS[ns.sender])
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return TelemetryClient(cfg), path


def install_stop_handlers(stop: threading.Event) -> None:
    """First SIGINT/SIGTERM: stop after the current step; a second one: exit now."""
    def handler(signum: int, frame: types.FrameType | None) -> None:
        if stop.is_set():
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        stop.set()
        name = signal.Signals(signum).name
        logs.status("signal", f"\nesper-trainer: {name} received, stopping (again to abort)",
                    level="warning", signal=name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    ns = settings.parse_args(build_parser(), argv, "trainer")
    logs.configure(ns.log_level, ns.log_format, service="trainer")
    try:
        return _run(ns)
    except UserError as exc:
        logs.status("error", f"esper-trainer: error: {exc}", level="error")
        return 2


def _run(ns: argparse.Namespace) -> int:
    import torch

    from trainer_svc.progress import Progress
    from trainer_svc.train import Trainer, new_run_id, resolve_device

    cfg = config_from_args(ns)
    try:
        device = resolve_device(cfg.device)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    info = init_from_env(device)
    if info.enabled and device.type == "cuda":
        cfg.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    per_batch = cfg.envs * info.world_size
    if cfg.episodes % per_batch:
        rounded = (cfg.episodes // per_batch + 1) * per_batch
        if info.rank == 0:
            logs.status("episodes_rounded",
                        f"esper-trainer: --episodes {cfg.episodes} rounded up to {rounded} "
                        f"(a multiple of {per_batch} envs)", level="warning",
                        asked=cfg.episodes, episodes=rounded, envs=per_batch)
        cfg = dataclasses.replace(cfg, episodes=rounded)
    cfg.run_id = share_run_id(info, cfg.run_id or new_run_id())
    torch.set_num_threads(1)  # tiny networks: extra threads only add contention

    logs.bind_process(run_id=cfg.run_id, producer_id=info.producer_id(),
                      peer=ns.sanctum or None)
    telemetry, path = make_telemetry(ns, cfg.run_id, info)
    stop = threading.Event()
    progress = Progress(cfg.episodes, enabled=not ns.quiet and info.rank == 0)
    try:
        trainer = Trainer(cfg, telemetry, dist_info=info, stop=stop, on_batch=progress)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    install_stop_handlers(stop)
    telemetry.start()  # after any forking: the sender thread and channel start here
    if info.rank == 0:
        where = ns.sanctum or (path and f"event file {path}") or "nowhere (--no-telemetry)"
        cfg_t = getattr(telemetry, "cfg", None)
        sender = None
        if cfg_t is not None:
            sender = "process" if cfg_t.uses_sender_process() else "thread"
            where += f" (sender {sender})"
        logs.status("start",
                    f"esper-trainer: run {cfg.run_id}, {cfg.episodes} episodes x "
                    f"{cfg.max_epochs} epochs, {trainer.n_envs_total} envs on {device}; "
                    f"telemetry -> {where}",
                    episodes=cfg.episodes, epochs=cfg.max_epochs, envs=trainer.n_envs_total,
                    device=str(device), sanctum=ns.sanctum, events_file=path, sender=sender,
                    telemetry=not ns.no_telemetry)
    try:
        result = trainer.run()
    except Exception as exc:  # report, flush what we have, exit non-zero without a traceback
        from trainer_svc import emit

        telemetry.emit(emit.training_completed(total_episodes=0, final_accuracy=0.0,
                                               final_avg_reward=0.0, wall_time_s=0.0,
                                               status=f"error: {exc}"))
        telemetry.close(CLOSE_TIMEOUT_S)
        logs.status("failed", f"esper-trainer: training failed: {type(exc).__name__}: {exc}",
                    level="error", error=type(exc).__name__)
        if os.environ.get("ESPER_DEBUG"):
            raise
        return 1
    finally:
        if stop.is_set():
            progress.finish()
    telemetry.close(CLOSE_TIMEOUT_S)
    shutdown(info)
    if ns.save and info.rank == 0:
        trainer.save_checkpoint(ns.save, result.episodes_completed)
    if info.rank == 0:
        logs.status("completed",
                    f"esper-trainer: {result.status}: {result.episodes_completed} episodes in "
                    f"{result.wall_time_s:.1f}s, final accuracy {result.final_accuracy:.3f}, "
                    f"mean episode reward {result.final_avg_reward:+.3f}",
                    status=result.status, episodes=result.episodes_completed,
                    wall_time_s=round(result.wall_time_s, 3),
                    final_accuracy=result.final_accuracy,
                    final_avg_reward=result.final_avg_reward)
    if path:
        logs.status("events_file",
                    f"esper-trainer: events written to {path}\n  load them into a local "
                    f"sanctum with: esper-sanctum ingest {shlex.quote(path)}\n  (another "
                    "sanctum: add --server HOST:PORT, and --tls-ca FILE / --token "
                    "\"$ESPER_TOKEN\" if it uses them)", path=path)
    _report_telemetry(telemetry.stats())
    return 130 if result.status == "interrupted" else 0


def _report_telemetry(stats: dict[str, int]) -> None:
    """The delivery summary, and warnings for events sanctum refused or the client dropped."""
    if stats:
        counters: dict[str, Any] = dict(stats)  # every counter, as a typed figure
        logs.status("telemetry",
                    f"esper-trainer: telemetry: emitted {stats['emitted']}, acked "
                    f"{stats['acked']}, resent {stats['resent']}, dropped {stats['dropped']}, "
                    f"reconnects {stats['reconnects']}", **counters)
    if stats.get("duplicate") or stats.get("conflicting"):
        logs.status("producer_conflict",
                    f"esper-trainer: WARNING: sanctum treated {stats['duplicate']} events as "
                    f"duplicates and {stats['conflicting']} as conflicting: they were NOT "
                    "applied. Another process used this run's producer id; give each its own.",
                    level="warning", duplicate=stats["duplicate"],
                    conflicting=stats["conflicting"])
    if stats.get("dropped"):
        logs.status("dropped",
                    f"esper-trainer: telemetry dropped {stats['dropped']} events (see the drop "
                    "policy in esper_client/policy.py)", level="warning",
                    dropped=stats["dropped"])
