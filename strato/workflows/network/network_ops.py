"""Operations on a guest network: ApplyNetwork (its router applied whole after a change to
its rules or addresses), RestartNetwork (every host's part and the router rebuilt from
the database; with cleanup the router is destroyed first), ShutdownNetwork and
DeleteNetwork. Each plans its devices from the database at a new generation, has the
hosts' agents carry the plan out, and lets the database finish.

None holds a lock: each applies the network whole, at the generation it read, and the
agents ignore a spec older than one they applied; so concurrent operations on one
network converge on the newest state in any order. A restart also plugs every port the
database has and unplugs the others, from a list read at its start: when the network
changed while it worked (a VM booted or stopped on it), it goes round again, so a port
plugged or unplugged meanwhile ends as the database has it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from strato.domain.network import flows
    from strato.domain.network.payloads import (
        NetworkOpInput,
        NetworkResult,
        SecurityGroupOpInput,
    )
    from strato.domain.network.steps import NETWORK_DONE, NETWORK_PLAN, NETWORK_SG_PLAN
    from strato.domain.progress import StepProgress
    from strato.workflows.common import calls
    from strato.workflows.common.policies import LOCAL_RETRY, LOCAL_TIMEOUT
    from strato.workflows.common.progress import Steps
    from strato.workflows.network.devices import converge

STEPS = ("plan", "hosts", "record")
ROUNDS = 5  # a restart's rounds at most, while the network keeps changing under it


class _NetworkOp:
    def __init__(self) -> None:
        self.steps = Steps(*STEPS)

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    async def _run(self, inp: NetworkOpInput) -> NetworkResult:
        rounds = ROUNDS if inp.mode == "restart" and workflow.patched("restart-rounds") else 1
        for n in range(1, rounds + 1):
            self.steps.enter("plan", f"round {n}" if n > 1 else "")
            plan = await calls.local(NETWORK_PLAN, inp, timeout=LOCAL_TIMEOUT, retry=LOCAL_RETRY)
            if not plan.empty():
                hosts = sorted(
                    {j.host for j in [*plan.routers, *plan.destroy_routers]}
                    | {p.host for p in [*plan.peers, *plan.shutdown]}
                )
                self.steps.enter("hosts", ", ".join(hosts))
                await converge(plan)
            self.steps.enter("record")
            result = await calls.local(NETWORK_DONE, inp, timeout=LOCAL_TIMEOUT, retry=LOCAL_RETRY)
            if plan.empty() or result.generation <= plan.generation:
                break  # nothing changed the network while this round worked
            if n == rounds:
                # Said, not failed: what changed it applied its own part, and the doctor
                # finds (and a restart repairs) a port this round may have missed.
                workflow.logger.warning(
                    "network %s still changing after %d rounds", inp.network_id, rounds
                )
                self.steps.finish(
                    f"{result.state} (generation {result.generation}; the network kept "
                    f"changing: {rounds} rounds)"
                )
                return result
            # Again, from the database as it is now; the router is rebuilt once only.
            inp = inp.model_copy(update={"cleanup": False})
        self.steps.finish(f"{result.state} (generation {result.generation})")
        return result


@workflow.defn(name=flows.APPLY_NETWORK.name)
class ApplyNetworkWorkflow(_NetworkOp):
    @workflow.run
    async def run(self, inp: NetworkOpInput) -> NetworkResult:
        return await self._run(inp.model_copy(update={"mode": "apply"}))


@workflow.defn(name=flows.RESTART_NETWORK.name)
class RestartNetworkWorkflow(_NetworkOp):
    @workflow.run
    async def run(self, inp: NetworkOpInput) -> NetworkResult:
        return await self._run(inp.model_copy(update={"mode": "restart"}))


@workflow.defn(name=flows.SHUTDOWN_NETWORK.name)
class ShutdownNetworkWorkflow(_NetworkOp):
    @workflow.run
    async def run(self, inp: NetworkOpInput) -> NetworkResult:
        return await self._run(inp.model_copy(update={"mode": "shutdown"}))


@workflow.defn(name=flows.DELETE_NETWORK.name)
class DeleteNetworkWorkflow(_NetworkOp):
    @workflow.run
    async def run(self, inp: NetworkOpInput) -> NetworkResult:
        return await self._run(inp.model_copy(update={"mode": "destroy"}))


@workflow.defn(name=flows.APPLY_SECURITY_GROUP.name)
class ApplySecurityGroupWorkflow:
    """The group's rules, as they are now, on every port they concern (a port plugged
    again converges, its security included). Returns how many ports."""

    def __init__(self) -> None:
        self.steps = Steps("plan", "hosts")

    @workflow.query(name="progress")
    def progress(self) -> StepProgress:
        return self.steps.current

    @workflow.run
    async def run(self, inp: SecurityGroupOpInput) -> int:
        self.steps.enter("plan")
        plan = await calls.local(NETWORK_SG_PLAN, inp, timeout=LOCAL_TIMEOUT, retry=LOCAL_RETRY)
        ports = sum(len(h.plug.ports) for h in plan.resecure)
        self.steps.enter("hosts", ", ".join(h.host for h in plan.resecure))
        await converge(plan)
        self.steps.finish(f"{ports} port(s)")
        return ports
