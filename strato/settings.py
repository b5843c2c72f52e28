"""One settings object, read from ``STRATO_*`` environment variables and validated at start."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.service import TLSConfig

from strato.domain.fabric.monitor import DEFAULT_SHARDS
from strato.domain.paths import DEFAULT_IMAGE_ROOTS, DEFAULT_POOL_ROOTS, parse_roots
from strato.sdk.core import default_data_dir


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STRATO_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_ui_url: str | None = None
    # How long Temporal keeps an ended workflow's history (the namespace's retention, set by
    # the orchestrator worker at start). Operations' outcomes are recorded in PostgreSQL
    # within seconds of ending, so this bounds only how long SREs can open a finished
    # flow's history in the Temporal UI, and Temporal's disk use.
    temporal_retention_days: int = Field(default=7, ge=1, le=3650)
    # TLS to Temporal (its frontend, or a TLS proxy in front of it): on when a CA or a
    # client certificate is given, or temporal_tls is set (then the system's roots).
    # A client certificate and key make it mutual TLS.
    temporal_tls: bool = False
    temporal_tls_ca: Path | None = None
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_server_name: str | None = None
    # Several Strato installations (or test runs) can share one Temporal namespace.
    orchestration_queue: str = Field(default="orchestration", min_length=1, max_length=200)

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_url: str | None = None
    temporal_port: int = Field(default=7233, ge=1, le=65535)
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_json_depth: int = Field(default=32, ge=2)
    body_timeout_s: float = Field(default=30.0, gt=0)
    # Event streams (SSE): at most this many open per API key; each re-checks its key this
    # often and ends, saying why, once the key is revoked.
    # Webhook deliveries (the event relay): how long one POST may take, the backoff
    # between attempts (doubling from the first, capped, half of it jitter), and the
    # operator's internal networks deliveries may not reach without allow_internal
    # (comma-separated CIDRs; loopback and link-local are always refused).
    # The relay also publishes every event to this AMQP broker's topic exchange
    # (amqp://user:password@host:port/vhost; empty: no AMQP sink).
    # The services directory: each process registers itself (false: it does not, as
    # the tests' in-process platforms do), heartbeats every third of this TTL, and an
    # instance silent past its TTL is critical, then removed after the second figure.
    directory_register: bool = True
    directory_ttl_s: int = Field(default=15, ge=1, le=3600)
    directory_deregister_after_s: int = Field(default=120, ge=0, le=86_400)
    amqp_url: str = ""
    # With no URL the relay discovers its broker in the services directory: an instance
    # of this kind (empty: no discovery, no AMQP sink), reached with these credentials
    # (user:password; the directory shows endpoints to every reader, so they hold none).
    amqp_kind: str = Field(default="amqp", pattern=r"^([a-z0-9][a-z0-9._-]*)?$")
    amqp_credentials: str = ""
    # `strato up` runs a private RabbitMQ (rabbitmq-server from Debian) under the data
    # directory and registers it in the directory (kind amqp), when this is true and no
    # URL is given.
    embedded_rabbitmq: bool = False
    amqp_exchange: str = Field(default="strato.events", pattern=r"^[A-Za-z0-9._:-]{1,255}$")
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=300)
    webhook_retry_initial_s: float = Field(default=1.0, gt=0, le=3600)
    webhook_retry_max_s: float = Field(default=300.0, gt=0, le=86_400)
    webhook_internal_networks: str = Field(default="", pattern=r"^[0-9a-fA-F.:/, ]*$")
    max_streams_per_key: int = Field(default=8, ge=1, le=1000)
    stream_key_check_s: float = Field(default=5.0, gt=0, le=300)

    # Where host paths an admin names may lie (colon-separated directories, checked by the
    # API as written and by each agent once resolved): template images, kernels and
    # initrds; and storage pool directories. Set the same on the API and every agent.
    image_roots: str = DEFAULT_IMAGE_ROOTS
    pool_roots: str = DEFAULT_POOL_ROOTS

    # Optional services to switch on, by entry-point name: "acl,console".
    services: str = Field(default="", pattern=r"^[a-z0-9_, ]*$")

    demo_hosts: int = Field(default=4, ge=0, le=10_000)
    demo_zone: str = "demo"

    # Simulator drivers (ARCHITECTURE §5): capacity, latency per call, injected faults.
    sim_host_cpu_cores: int = Field(default=32, ge=1)
    sim_host_cpu_speed_mhz: int = Field(default=2400, ge=1)
    sim_host_memory_mb: int = Field(default=131_072, ge=1)
    sim_latency_ms: float = Field(default=0.0, ge=0)
    sim_fail_rate: float = Field(default=0.0, ge=0, le=1)
    sim_fail_hosts: str = ""
    sim_fail_ops: str = ""
    sim_hang_rate: float = Field(default=0.0, ge=0, le=1)
    sim_seed: int | None = None
    # Simulated hosts and pools keep their VMs and volumes in <data_dir>/sim across agent
    # restarts, as real ones do; false makes an agent restart look like a host reboot.
    sim_persist: bool = True
    # Simulated hosts heartbeat every this many seconds, as real agents do (their host
    # goes Alert, is investigated and may be declared Down when they stop); 0: they do
    # not (they stay Up and are never investigated: cheapest for scale runs).
    sim_heartbeat_s: float = Field(default=0.0, ge=0)
    # Simulated hosts added while this is set are served on one shared queue per
    # subsystem (compute+<this>, network+<this>), each step's host named in its activity
    # id, instead of two queues per host: the engine's cost per task queue is what limits
    # a large simulated fleet. Empty: each simulated host has its own queues, as a real
    # host does (a dead agent is then seen exactly as a real one: nothing takes its steps).
    sim_shared_queue: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9._-]{0,62})?$")
    # Host monitoring runs in this many HostMonitors shards; every agent of a cloud must
    # use the same number (a host's shard follows from its id and it).
    host_monitor_shards: int = Field(default=DEFAULT_SHARDS, ge=1, le=1024)

    # Where the orchestrator worker serves Temporal's metrics for Prometheus (HOST:PORT;
    # empty: nowhere). Agents take --metrics-listen.
    worker_metrics_listen: str = ""

    # Capacity alerts (CloudStack's *.capacity.notificationthreshold): an alert is
    # raised when a cluster's CPU or memory, a pool's storage, a zone's public IPs or a
    # physical network's VLANs are allocated at or over this share, cleared under it.
    capacity_notify_cpu: float = Field(default=0.75, gt=0, le=1)
    capacity_notify_memory: float = Field(default=0.75, gt=0, le=1)
    capacity_notify_storage: float = Field(default=0.75, gt=0, le=1)
    capacity_notify_public_ips: float = Field(default=0.75, gt=0, le=1)
    capacity_notify_vlans: float = Field(default=0.75, gt=0, le=1)

    host_connect_timeout_s: float = Field(default=30.0, gt=0)
    # A host whose agent picks no boot step up within this long is treated as dead (the
    # deploy moves on); a host step running longer than host_step_timeout_s (when set)
    # is abandoned the same way, which is what cuts a hung hypervisor call.
    host_reach_s: float = Field(default=30.0, ge=1)
    host_step_timeout_s: float | None = Field(default=None, gt=0)

    # VM lifecycle (CloudStack global settings: expunge.delay, capacity release on stop).
    expunge_delay_s: float = Field(default=86_400.0, ge=0)
    # Tests and demos: every snapshot policy fires every this many seconds instead of on
    # its calendar (0: on its calendar).
    snapshot_policy_every_s: float = Field(default=0.0, ge=0)
    release_capacity_on_stop: bool = True
    # The most VM snapshots one VM may have (CloudStack's vmsnapshot.max).
    vm_snapshot_max: int = Field(default=10, ge=1, le=100)
    # Templates: the largest image (downloaded bytes and virtual size) a registration may
    # bring unless it names a smaller limit; a template's copy on a pool that no volume
    # there is cloned from is removed after this long unused.
    template_max_bytes: int = Field(default=100 << 30, gt=0)
    # The template service's task queue (tests give each run its own).
    templates_queue: str = "templates"
    template_cache_idle_s: float = Field(default=3600.0, ge=0)
    # A guest network with no running VM for this long is shut down (router and segment
    # given back), as CloudStack's network.gc.wait.
    network_gc_wait_s: float = Field(default=600.0, ge=0)
    deploy_max_hosts: int = Field(default=3, ge=1, le=100)
    stop_timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("image_roots", "pool_roots")
    @classmethod
    def _roots(cls, v: str, info: ValidationInfo) -> str:
        parse_roots(v, f"STRATO_{str(info.field_name).upper()}")
        return v

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError(
                "STRATO_TEMPORAL_TLS_CERT and STRATO_TEMPORAL_TLS_KEY go together "
                "(a client certificate and its key)"
            )
        return self

    def temporal_tls_config(self) -> TLSConfig | bool:
        """What the Temporal client is given: False (plain), True (TLS, system roots) or
        a TLSConfig with the CA, the client certificate and key, the server name."""
        if not (self.temporal_tls or self.temporal_tls_ca or self.temporal_tls_cert):
            return False

        def read(path: Path | None, what: str) -> bytes | None:
            if path is None:
                return None
            try:
                return path.read_bytes()
            except OSError as err:
                raise ValueError(f"{what} {path} cannot be read: {err.strerror}") from err

        return TLSConfig(
            server_root_ca_cert=read(self.temporal_tls_ca, "STRATO_TEMPORAL_TLS_CA"),
            client_cert=read(self.temporal_tls_cert, "STRATO_TEMPORAL_TLS_CERT"),
            client_private_key=read(self.temporal_tls_key, "STRATO_TEMPORAL_TLS_KEY"),
            domain=self.temporal_tls_server_name,
        )

    @property
    def image_root_list(self) -> tuple[str, ...]:
        return parse_roots(self.image_roots, "STRATO_IMAGE_ROOTS")

    @property
    def pool_root_list(self) -> tuple[str, ...]:
        return parse_roots(self.pool_roots, "STRATO_POOL_ROOTS")

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @cached_property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @cached_property
    def embedded_temporal(self) -> bool:
        return self.temporal_address is None

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        from strato.embedded.postgres import PgLayout

        return PgLayout(self.data_dir / "pg").dsn()

    def resolved_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    def resolved_api_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"

    def resolved_temporal_ui_url(self) -> str:
        return self.temporal_ui_url or f"http://127.0.0.1:{self.temporal_ui_port}"

    @property
    def capacity_thresholds(self) -> dict[str, float]:
        """The notification threshold of each capacity kind."""
        kinds = ("cpu", "memory", "storage", "public_ips", "vlans")
        return {k: float(getattr(self, f"capacity_notify_{k}")) for k in kinds}

    @property
    def service_names(self) -> list[str]:
        return list(dict.fromkeys(n.strip() for n in self.services.split(",") if n.strip()))

    @property
    def client_config_path(self) -> Path:
        return self.data_dir / "client.json"
