"""Strato's operations as durable steps of a developer's own Temporal workflow.

Import it through the sandbox's pass-through (it holds no workflow state)::

    with workflow.unsafe.imports_passed_through():
        from strato.sdk import workflow as strato

    @workflow.defn
    class Redeploy:
        @workflow.run
        async def run(self, zone_id: str) -> str:
            vm = await strato.deploy_vm(name="web-2", zone_id=zone_id, ...)
            await strato.wait_for("vms", vm["id"], "Running")
            return str(vm["id"])

Each call is one activity (run by :func:`strato.sdk.worker.worker`'s worker) that makes
the request through Strato's API, so it gets the same validation, locks, limits and
events as any other client, with an idempotency key fixed for the step: after a crash of
either side the step is the same request, never a second VM. (That holds for every
operation and for the creates that take an Idempotency-Key: public IPs, port-forwarding
and firewall rules. A repeated ``subscribe`` may leave a second subscription; the inbox
keeps each event once.) An operation it starts is
waited for (its progress is the activity's heartbeat), then the resource is read again
and returned. Every resource a step touched is added to the workflow's
``StratoResources`` search attribute, so the run is found in the Temporal UI by the
resources it touched.

A step fails the workflow (as an ``ActivityError``) when retrying cannot help: its
``cause`` is an ``ApplicationError`` whose ``type`` is the problem's code
(``invalid-input``, ``not-found``, ``name-taken``, ``operation-failed``, ...) and whose
``details[0]`` is the problem or the failed operation. Catch it to compensate.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

from strato.sdk.core import COLLECTIONS
from strato.sdk.steps import CALL, WAIT_FOR, StepCall, StepResult, WaitFor

RESOURCES = SearchAttributeKey.for_keyword_list("StratoResources")
# A busy resource, an API restarting: retried (a refusal that cannot change is not).
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# At most this many resources on a run's StratoResources (36-character ids: under 2 KB).
MAX_RESOURCES = 40
HEARTBEAT = timedelta(seconds=10)  # a dead worker's step is retried after this


def _path(collection: str) -> str:
    """``"vms"`` (or ``"public_ips"``, or ``"/public-ips"``) as the collection's path."""
    if collection.startswith("/"):
        return collection
    return COLLECTIONS.get(collection, "/" + collection.replace("_", "-"))


async def call(
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    params: dict[str, Any] | None = None,
    read: str | None = None,
    wait: bool = True,
    timeout: timedelta = timedelta(hours=1),  # noqa: ASYNC109 - the step's Temporal timeout
) -> StepResult:
    """Any request of the API as a step: its answer, the operation it started (waited
    for unless ``wait`` is false) and the resource read at ``read`` afterwards."""
    result: StepResult = await workflow.execute_activity(
        CALL,
        StepCall(method=method, path=path, body=body, params=params, wait=wait, read=read),
        result_type=StepResult,
        start_to_close_timeout=timeout,
        heartbeat_timeout=HEARTBEAT,
        retry_policy=RETRY,
    )
    _touched(result)
    return result


def _touched(result: StepResult) -> None:
    """Add the resources of ``result`` to the run's ``StratoResources``."""
    answer = result.answer if isinstance(result.answer, dict) else {}
    inner = answer.get("resource")
    accepted: dict[str, Any] = inner if isinstance(inner, dict) else {}
    candidates = (
        (result.resource or {}).get("id"),
        accepted.get("id"),
        answer.get("id"),
        (result.operation or {}).get("resource_id"),
    )
    known = list(workflow.info().typed_search_attributes.get(RESOURCES) or [])
    new = list(dict.fromkeys(str(c) for c in candidates if c and str(c) not in known))
    # Temporal caps one attribute's value (2 KB by default): the first resources only.
    new = new[: max(0, MAX_RESOURCES - len(known))]
    if new:
        workflow.upsert_search_attributes([RESOURCES.value_set(known + new)])


def _resource(result: StepResult) -> dict[str, Any]:
    if result.resource is not None:
        return result.resource
    answer = result.answer if isinstance(result.answer, dict) else {}
    inner = answer.get("resource")
    return inner if isinstance(inner, dict) else answer


async def create(collection: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create in ``collection`` (an operation is waited for); the resource as it is then."""
    path = _path(collection)
    result = await call("POST", path, body)
    made = _resource(result)
    accepted = isinstance(result.answer, dict) and "operation" in result.answer
    if accepted and made.get("id"):  # a 202: the resource as the operation left it
        return _resource(await call("GET", f"{path}/{made['id']}"))
    return made


async def act(
    collection: str, id: str, verb: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``POST {collection}/{id}/{verb}`` (waited for); the resource after it (an empty
    dict once it is gone: expunged, deleted)."""
    path = f"{_path(collection)}/{id}"
    result = await call("POST", f"{path}/{verb}", body, read=path)
    return result.resource or {}


async def delete(collection: str, id: str) -> None:
    """Delete (an operation is waited for); a step retried after its delete is done."""
    await call("DELETE", f"{_path(collection)}/{id}")


async def get(collection: str, id: str) -> dict[str, Any]:
    """The resource as it is now (a step: recorded in the history, not read again)."""
    return _resource(await call("GET", f"{_path(collection)}/{id}"))


async def wait_for(
    collection: str,
    id: str,
    state: str | Sequence[str],
    *,
    timeout: timedelta = timedelta(minutes=10),  # noqa: ASYNC109 - the step's Temporal timeout
) -> dict[str, Any]:
    """The resource once its ``state`` is one of ``state`` (fails as ``wait-timeout``)."""
    states = [state] if isinstance(state, str) else list(state)
    found: dict[str, Any] = await workflow.execute_activity(
        WAIT_FOR,
        WaitFor(path=f"{_path(collection)}/{id}", states=states, timeout_s=timeout.total_seconds()),
        result_type=dict,
        start_to_close_timeout=timeout + timedelta(minutes=1),
        heartbeat_timeout=HEARTBEAT,
        retry_policy=RETRY,
    )
    return found


# -- the common operations, by name ---------------------------------------------------------


async def deploy_vm(**body: Any) -> dict[str, Any]:
    """Deploy a VM (the body of ``POST /vms``); the VM once deployed."""
    return await create("vms", body)


async def start_vm(vm_id: str) -> dict[str, Any]:
    """Start a stopped VM; the VM once started."""
    return await act("vms", vm_id, "start")


async def stop_vm(vm_id: str, *, force: bool = False) -> dict[str, Any]:
    """Stop a VM (``force``: power it off); the VM once stopped."""
    return await act("vms", vm_id, "stop", {"force": True} if force else None)


async def reboot_vm(vm_id: str) -> dict[str, Any]:
    """Reboot a running VM; the VM after."""
    return await act("vms", vm_id, "reboot")


async def destroy_vm(vm_id: str, *, expunge: bool = False) -> dict[str, Any]:
    """Destroy a VM (``expunge``: now, not after the delay); the VM after."""
    return await act("vms", vm_id, "destroy", {"expunge": True} if expunge else None)


async def create_volume(**body: Any) -> dict[str, Any]:
    """Create a volume (the body of ``POST /volumes``); the volume."""
    return await create("volumes", body)


async def attach_volume(volume_id: str, vm_id: str) -> dict[str, Any]:
    """Attach a volume to a VM; the volume after."""
    return await act("volumes", volume_id, "attach", {"vm_id": vm_id})


async def detach_volume(volume_id: str) -> dict[str, Any]:
    """Detach a volume from its VM; the volume after."""
    return await act("volumes", volume_id, "detach")


async def allocate_public_ip(**body: Any) -> dict[str, Any]:
    """Allocate a public IP (the body of ``POST /public-ips``: its network, ...)."""
    return await create("public_ips", body)


async def release_public_ip(ip_id: str) -> None:
    """Give a public IP back (its rules go with it)."""
    await delete("public_ips", ip_id)


async def create_port_forwarding_rule(ip_id: str, **body: Any) -> dict[str, Any]:
    """Forward ports of a public IP to a VM (the body of the API's rule); the rule,
    once its network applied it."""
    return await create(f"/public-ips/{ip_id}/port-forwarding-rules", body)


async def delete_port_forwarding_rule(rule_id: str) -> None:
    """Remove a rule, once its network applied the removal."""
    await delete("port_forwarding_rules", rule_id)


# -- Strato's events, signalled to the workflow -----------------------------------------------

EVENT_SIGNAL = "strato.event"  # the relay's signal (strato.domain.event_signals.SIGNAL)


async def subscribe(types: Sequence[str] = ("*",), resources: Sequence[str] = ()) -> str:
    """From now on, have Strato's event relay signal this workflow each event of
    ``types`` (patterns: ``strato.vm.*``) about ``resources`` (all, if none); its
    subscription id. The workflow keeps them with :class:`EventInbox`. The subscription
    ends with :func:`unsubscribe`, or by itself once the workflow has ended."""
    body = {
        "workflow_id": workflow.info().workflow_id,
        "types": list(types),
        "resource_ids": list(resources),
    }
    result = await call("POST", "/event-signals", body)
    return str(_resource(result)["id"])


async def unsubscribe(subscription_id: str) -> None:
    """End a subscription made by :func:`subscribe`."""
    await delete("/event-signals", subscription_id)


class EventInbox:
    """A workflow that subscribes (:func:`subscribe`) takes this as a base: the events
    signalled to it wait in its inbox (once each, by event id) until
    :meth:`next_event` takes them."""

    def _inbox(self) -> tuple[list[dict[str, Any]], set[str]]:
        if not hasattr(self, "_strato_inbox"):
            self._strato_inbox: tuple[list[dict[str, Any]], set[str]] = ([], set())
        return self._strato_inbox

    @workflow.signal(name=EVENT_SIGNAL)
    def strato_event(self, event: dict[str, Any]) -> None:
        """The relay's signal: keep the event (once by id)."""
        waiting, seen = self._inbox()
        if str(event.get("id")) not in seen:
            seen.add(str(event.get("id")))
            waiting.append(event)

    async def next_event(
        self,
        type: str = "*",
        *,
        subject: str | None = None,
        timeout: timedelta | None = None,  # noqa: ASYNC109 - Temporal's durable timer
    ) -> dict[str, Any]:
        """The oldest waiting event whose type matches ``type`` (a pattern) and, if
        given, whose subject is ``subject`` (``vm/<id>``); waits for one (TimeoutError
        after ``timeout``)."""
        waiting, _ = self._inbox()

        def first() -> int | None:
            for i, e in enumerate(waiting):
                if fnmatch.fnmatchcase(str(e.get("type")), type) and (
                    subject is None or e.get("subject") == subject
                ):
                    return i
            return None

        await workflow.wait_condition(lambda: first() is not None, timeout=timeout)
        found = first()
        assert found is not None
        return waiting.pop(found)
