"""The capacity model: measured per-request costs and a traffic model in, hardware out.

Pure arithmetic, no I/O but reading the two input files, so the tests check it on hand-computed
inputs. For each endpoint ``e`` and write ``w`` at the peak:

    rps_e = DAU x reads_per_dau[e] / 86,400 x peak_to_average        (the same for wps_w)
    app cores      = (sum_e rps_e x app_ms_e + sum_w wps_w x app_ms_w) / 1000 / utilization
    replica cores  = sum_e rps_e x pg_ms_e / 1000 / utilization       (GET reads: replicas)
    primary cores  = sum_w wps_w x pg_ms_w / 1000 / utilization       (writes: the primary)
    Redis cores    = (sum_e rps_e x redis_ms_e + sum_w wps_w x redis_ms_w) / 1000 / utilization
    Redis memory   = DAU x bytes per active user x (1 + overhead)
    sockets        = DAU x minutes_online / 1440 x peak_to_average
    socket procs   = max(sockets / sockets_per_process,
                         message rate x ms per message / 1000 / utilization)
    storage a day  = sum_w DAU x writes_per_dau[w] x bytes per row written by w
    media a day    = DAU x writes_per_dau[post] x image bytes per post

CPU per 1,000 requests a second (what the validation compares) is the read mix's mean app CPU
milliseconds per request: 1,000 req/s x m ms = m cores.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECONDS_PER_DAY = 86_400
MINUTES_PER_DAY = 1_440
MODEL_PATH = Path(__file__).resolve().parent / "model.toml"


class ModelError(ValueError):
    """A parameter or a cost file the plan cannot use; the message names the field."""


@dataclass(frozen=True)
class Traffic:
    peak_to_average: float
    minutes_online_per_dau: float
    reads_per_dau: Mapping[str, float]
    writes_per_dau: Mapping[str, float]


@dataclass(frozen=True)
class Hardware:
    target_utilization: float
    app_cores_per_host: int
    postgres_cores_per_host: int
    postgres_min_replicas: int
    redis_memory_per_shard_gib: float
    redis_memory_overhead: float
    sockets_per_process: int
    storage_days: int


@dataclass(frozen=True)
class Model:
    traffic: Traffic
    hardware: Hardware


@dataclass(frozen=True)
class Cost:
    """CPU milliseconds one request or write costs each role."""

    app_ms: float
    pg_ms: float
    redis_ms: float


@dataclass(frozen=True)
class Costs:
    reads: Mapping[str, Cost]
    writes: Mapping[str, Cost]
    redis_bytes_per_active_user: float
    bytes_per_write: Mapping[str, float]
    socket_ms_per_message: float
    # Image files a new post stores (its renditions), outside the database.
    media_bytes_per_post: float = 0.0


def _positive(value: Any, name: str, *, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ModelError(f"{name} must be a number, not {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise ModelError(f"{name} must be {'at least 0' if zero else 'above 0'}, not {value!r}")
    return float(value)


def _rates(table: Any, name: str) -> dict[str, float]:
    if not isinstance(table, dict) or not table:
        raise ModelError(f"{name} must be a table of endpoint = requests per DAU per day")
    return {key: _positive(value, f"{name}.{key}", zero=True) for key, value in table.items()}


def model_parse(data: Mapping[str, Any]) -> Model:
    """A Model from the TOML's tables; every number checked, every missing key named."""
    try:
        traffic, hardware = data["traffic"], data["hardware"]
        model = Model(
            traffic=Traffic(
                peak_to_average=_positive(traffic["peak_to_average"], "peak_to_average"),
                minutes_online_per_dau=_positive(
                    traffic["minutes_online_per_dau"], "minutes_online_per_dau", zero=True
                ),
                reads_per_dau=_rates(traffic["reads_per_dau"], "reads_per_dau"),
                writes_per_dau=_rates(traffic["writes_per_dau"], "writes_per_dau"),
            ),
            hardware=_hardware(hardware),
        )
    except KeyError as exc:
        raise ModelError(f"the model lacks {exc.args[0]!r}") from None
    if model.traffic.peak_to_average < 1:
        raise ModelError("peak_to_average must be at least 1 (the peak is above the mean)")
    if not 0 < model.hardware.target_utilization <= 1:
        raise ModelError("target_utilization must be in (0, 1]")
    return model


_ZERO_OK = {"postgres_min_replicas", "redis_memory_overhead"}


def _hardware(table: Mapping[str, Any]) -> Hardware:
    def whole(key: str) -> int:
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ModelError(f"{key} must be a whole number, not {value!r}")
        return int(_positive(value, key, zero=key in _ZERO_OK))

    def real(key: str) -> float:
        return _positive(table[key], key, zero=key in _ZERO_OK)

    return Hardware(
        target_utilization=real("target_utilization"),
        app_cores_per_host=whole("app_cores_per_host"),
        postgres_cores_per_host=whole("postgres_cores_per_host"),
        postgres_min_replicas=whole("postgres_min_replicas"),
        redis_memory_per_shard_gib=real("redis_memory_per_shard_gib"),
        redis_memory_overhead=real("redis_memory_overhead"),
        sockets_per_process=whole("sockets_per_process"),
        storage_days=whole("storage_days"),
    )


def model_load(path: Path = MODEL_PATH) -> Model:
    try:
        return model_parse(tomllib.loads(path.read_text()))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"cannot read the model {path}: {exc}") from None


def dau_check(dau: Any) -> int:
    """The audience as a whole number of users, at least 1."""
    if isinstance(dau, str):
        text = dau.replace("_", "").replace(",", "").strip()
        if not text.isdigit():
            raise ModelError(f"DAU must be a whole number of users, not {dau!r}")
        dau = int(text)
    if isinstance(dau, bool) or not isinstance(dau, int) or dau < 1:
        raise ModelError(f"DAU must be a whole number of users, at least 1, not {dau!r}")
    return dau


def costs_parse(data: Mapping[str, Any]) -> Costs:
    """The fields of capacity-costs.json the plan reads."""

    def cost_map(rows: Mapping[str, Any], name: str) -> dict[str, Cost]:
        return {
            label: Cost(
                app_ms=_positive(row["app_ms"], f"{name}.{label}.app_ms", zero=True),
                pg_ms=_positive(row["pg_ms"], f"{name}.{label}.pg_ms", zero=True),
                redis_ms=_positive(row["redis_ms"], f"{name}.{label}.redis_ms", zero=True),
            )
            for label, row in rows.items()
        }

    try:
        return Costs(
            reads=cost_map(data["reads"], "reads"),
            writes=cost_map(data["writes"], "writes"),
            redis_bytes_per_active_user=_positive(
                data["redis"]["bytes_per_active_user"], "redis.bytes_per_active_user"
            ),
            bytes_per_write={
                label: _positive(value, f"storage.bytes_per_write.{label}", zero=True)
                for label, value in data["storage"]["bytes_per_write"].items()
            },
            socket_ms_per_message=_positive(
                data["sockets"]["cpu_ms_per_message"], "sockets.cpu_ms_per_message"
            ),
            media_bytes_per_post=_positive(
                data["writes"].get("post", {}).get("media_bytes", 0.0),
                "writes.post.media_bytes",
                zero=True,
            ),
        )
    except (KeyError, TypeError) as exc:
        raise ModelError(f"the costs lack {exc.args[0]!r}") from None


def _missing(model: Model, costs: Costs) -> None:
    for kind, rates, measured in (
        ("read", model.traffic.reads_per_dau, costs.reads),
        ("write", model.traffic.writes_per_dau, costs.writes),
    ):
        unknown = sorted(label for label in rates if label not in measured)
        if unknown:
            raise ModelError(f"no measured cost for the {kind} {', '.join(unknown)}")
    unknown = sorted(w for w in model.traffic.writes_per_dau if w not in costs.bytes_per_write)
    if unknown:
        raise ModelError(f"no measured row size for the write {', '.join(unknown)}")


def cores_per_1000_rps(reads_per_dau: Mapping[str, float], reads: Mapping[str, Cost]) -> float:
    """App cores busy at 1,000 req/s of this read mix: its mean app ms per request."""
    total = sum(reads_per_dau.values())
    if total <= 0:
        raise ModelError("the read mix has no requests")
    return sum(rate * reads[label].app_ms for label, rate in reads_per_dau.items()) / total


@dataclass(frozen=True)
class Plan:
    """What an audience needs at its peak, before rounding up to hosts."""

    dau: int
    read_rps: float
    write_rps: float
    app_cores: float
    app_hosts: int
    replica_cores: float
    replicas: int
    primary_cores: float
    primary_fits: bool
    redis_cores: float
    redis_memory_gib: float
    redis_shards: int
    sockets: float
    messages_per_second: float
    socket_processes: int
    storage_gib_per_day: float
    storage_gib: float
    media_gib_per_day: float
    cores_per_1000_rps: float


def plan(*, dau: int, model: Model, costs: Costs) -> Plan:
    """The formula of this module's docstring."""
    _missing(model, costs)
    traffic, hw = model.traffic, model.hardware
    per_second = dau / SECONDS_PER_DAY * traffic.peak_to_average
    reads = {e: rate * per_second for e, rate in traffic.reads_per_dau.items()}
    writes = {w: rate * per_second for w, rate in traffic.writes_per_dau.items()}

    def cores(role: str, rates: Mapping[str, float], measured: Mapping[str, Cost]) -> float:
        busy = sum(rps * float(getattr(measured[label], role)) for label, rps in rates.items())
        return busy / 1000 / hw.target_utilization

    app = cores("app_ms", reads, costs.reads) + cores("app_ms", writes, costs.writes)
    replica = cores("pg_ms", reads, costs.reads)
    primary = cores("pg_ms", writes, costs.writes)
    redis = cores("redis_ms", reads, costs.reads) + cores("redis_ms", writes, costs.writes)
    memory = dau * costs.redis_bytes_per_active_user * (1 + hw.redis_memory_overhead) / 2**30
    sockets = dau * traffic.minutes_online_per_dau / MINUTES_PER_DAY * traffic.peak_to_average
    messages = writes.get("message", 0.0)
    socket_cores = messages * costs.socket_ms_per_message / 1000 / hw.target_utilization
    daily = sum(dau * rate * costs.bytes_per_write[w] for w, rate in traffic.writes_per_dau.items())
    return Plan(
        dau=dau,
        read_rps=sum(reads.values()),
        write_rps=sum(writes.values()),
        app_cores=app,
        app_hosts=max(1, math.ceil(app / hw.app_cores_per_host)),
        replica_cores=replica,
        replicas=max(hw.postgres_min_replicas, math.ceil(replica / hw.postgres_cores_per_host)),
        primary_cores=primary,
        primary_fits=primary <= hw.postgres_cores_per_host,
        redis_cores=redis,
        redis_memory_gib=memory,
        redis_shards=max(1, math.ceil(redis), math.ceil(memory / hw.redis_memory_per_shard_gib)),
        sockets=sockets,
        messages_per_second=messages,
        socket_processes=max(
            1, math.ceil(sockets / hw.sockets_per_process), math.ceil(socket_cores)
        ),
        storage_gib_per_day=daily / 2**30,
        storage_gib=daily * hw.storage_days / 2**30,
        media_gib_per_day=dau
        * traffic.writes_per_dau.get("post", 0.0)
        * costs.media_bytes_per_post
        / 2**30,
        cores_per_1000_rps=cores_per_1000_rps(traffic.reads_per_dau, costs.reads),
    )
