"""The commands the CloudStack-compatible API answers, each declared once: its
parameters (checked and converted before it runs, and listed by ``listApis``), whether
it is asynchronous, and the Strato operation its authorization is asked as."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from strato.services.cloudstack_api.wire import PARAM_ERROR, CsError, maps

if TYPE_CHECKING:
    from strato.services.cloudstack_api.call import Call

TYPES = ("uuid", "string", "boolean", "integer", "long", "short", "list", "map", "date")


@dataclass(frozen=True)
class P:
    """One parameter: its name (CloudStack's spelling), type and whether required."""

    name: str
    type: str = "string"
    required: bool = False
    description: str = ""
    max_length: int = 1024

    def __post_init__(self) -> None:
        assert self.type in TYPES, self.type


Handler = Callable[["Call"], Awaitable[Any]]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    description: str
    params: tuple[P, ...] = ()
    is_async: bool = False
    # the key of the object its answer (or its job's result) holds: "virtualmachine"
    item: str | None = None
    # the Strato operation the authorizer is asked (commands acting on a resource
    # also ask as the core's commands do)
    action: str = ""
    admin: bool = False
    response: tuple[str, ...] = ()
    related: tuple[str, ...] = field(default_factory=tuple)


REGISTRY: dict[str, Command] = {}

# Well-known CloudStack commands Strato does not carry, with the closest one it does.
UNSUPPORTED: dict[str, str] = {}


def command(
    name: str,
    description: str,
    *params: P,
    is_async: bool = False,
    item: str | None = None,
    action: str = "",
    admin: bool = False,
    response: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        key = name.lower()
        assert key not in REGISTRY, name
        REGISTRY[key] = Command(
            name, handler, description, params, is_async, item, action, admin, response
        )
        return handler

    return register


def _invalid(command: str, param: P, value: str, why: str) -> CsError:
    return CsError(
        PARAM_ERROR,
        f"Unable to execute API command {command.lower()} due to invalid value. "
        f"Invalid parameter {param.name.lower()} value={value} due to {why}",
    )


def _boolean(value: str) -> bool | None:
    lowered = value.strip().lower()
    return {"true": True, "false": False}.get(lowered)


def convert(cmd: Command, params: Mapping[str, str]) -> dict[str, Any]:
    """The command's arguments by lower-cased name, converted to their types; missing
    required ones and values of the wrong type are refused (431) before anything runs."""
    args: dict[str, Any] = {}
    for p in cmd.params:
        key = p.name.lower()
        if p.type == "map":
            entries = maps(params, key)
            if p.required and not entries:
                raise _missing(cmd, p)
            args[key] = entries
            continue
        raw = params.get(key)
        if raw is None or (raw == "" and p.type != "string"):
            if p.required:
                raise _missing(cmd, p)
            continue
        if len(raw) > max(p.max_length, 4096 if p.type == "list" else 0):
            raise _invalid(cmd.name, p, raw[:40] + "...", f"a length over {p.max_length}")
        args[key] = _typed(cmd, p, raw)
    return args


def _missing(cmd: Command, p: P) -> CsError:
    return CsError(
        PARAM_ERROR,
        f"Unable to execute API command {cmd.name.lower()} due to missing parameter "
        f"{p.name.lower()}",
    )


def _typed(cmd: Command, p: P, raw: str) -> Any:
    if p.type == "uuid":
        try:
            return UUID(raw.strip())
        except ValueError:
            raise _invalid(cmd.name, p, raw, "an invalid UUID format") from None
    if p.type in ("integer", "long", "short"):
        try:
            number = int(raw.strip())
        except ValueError:
            raise _invalid(cmd.name, p, raw, f"incorrect {p.type} value format") from None
        bound = {"short": 1 << 15, "integer": 1 << 31, "long": 1 << 63}[p.type]
        if not -bound <= number < bound:
            raise _invalid(cmd.name, p, raw, f"a value out of the {p.type} range")
        return number
    if p.type == "boolean":
        flag = _boolean(raw)
        if flag is None:
            raise _invalid(cmd.name, p, raw, "not being true or false")
        return flag
    if p.type == "list":
        items = [v.strip() for v in raw.split(",") if v.strip()]
        return items
    if p.type == "date":
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
            try:
                at = datetime.strptime(raw.strip(), fmt)
            except ValueError:
                continue
            return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        raise _invalid(cmd.name, p, raw, "not being a date as yyyy-MM-dd [HH:mm:ss]")
    return raw


def uuids(cmd_name: str, name: str, values: list[str]) -> list[UUID]:
    """A list parameter of ids, each checked."""
    found: list[UUID] = []
    for value in values:
        try:
            found.append(UUID(value))
        except ValueError:
            raise CsError(
                PARAM_ERROR,
                f"Unable to execute API command {cmd_name.lower()} due to invalid value. "
                f"Invalid parameter {name} value={value} due to an invalid UUID format",
            ) from None
    return found


def api_entry(cmd: Command) -> dict[str, Any]:
    """What ``listApis`` shows of a command (as CloudMonkey's ``sync`` reads it)."""
    return {
        "name": cmd.name,
        "description": cmd.description,
        "isasync": cmd.is_async,
        "since": "4.0.0",
        "related": ",".join(cmd.related),
        "params": [
            {
                "name": p.name.lower(),
                "description": p.description or p.name,
                "type": p.type,
                "length": p.max_length,
                "required": p.required,
                "since": "4.0.0",
                "related": "",
            }
            for p in cmd.params
        ],
        "response": [{"name": f, "description": f, "type": "string"} for f in cmd.response]
        + (
            [{"name": "jobid", "description": "the async job", "type": "string"}]
            if cmd.is_async
            else []
        ),
    }
