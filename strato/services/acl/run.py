"""The ACL service's own process (``python -m strato.services.acl.run``, started by
``strato up`` when STRATO_SERVICES has ``acl``): every ``STRATO_ACL_SYNC_S`` it purges
expired sessions and checks each LDAP user against its directory. A user gone from the
directory, or in no mapped group any more, is disabled and its sessions ended; one
whose groups now map to another account is moved there (and so gets that account's
role). A directory that does not answer is skipped until the next round."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from strato.domain.errors import ServiceUnavailable
from strato.schema.db import Database
from strato.services.acl import ldap
from strato.services.acl.auth import AclAuth
from strato.services.acl.schema import store
from strato.services.acl.settings import AclSettings
from strato.settings import Settings
from strato.workers.lifecycle import run_until_signal

log = logging.getLogger("strato.acl")


async def sweep(db: Database, auth: AclAuth) -> Counter[str]:
    """One round; what it did."""
    done: Counter[str] = Counter()
    async with db.tx() as conn:
        done["sessions_purged"] = await store.purge_sessions(conn)
        domains = await store.ldap_domains(conn)
    for domain_id, stored in domains:
        binding = auth.ldap_binding(stored)
        async with db.conn() as conn:
            users = await store.ldap_users(conn, domain_id)
        for user in users:
            try:
                found = await ldap.lookup(binding, user["username"])
            except ServiceUnavailable as err:
                log.warning("acl: LDAP sync of domain %s skipped: %s", domain_id, err.detail)
                done["directories_unreachable"] += 1
                break
            account = ldap.mapped(binding, found) if found is not None else None
            async with db.tx() as conn:
                if account is None:
                    await store.update_user(conn, user["id"], {"state": "Disabled"})
                    await store.end_sessions(conn, user["id"])
                    done["disabled"] += 1
                elif account != user["account_id"]:
                    await store.move_user(conn, user["id"], account)
                    done["moved"] += 1
    return done


async def serve(db: Database, auth: AclAuth, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            done = await sweep(db, auth)
            if any(done.values()):
                log.info("acl: %s", dict(done))
        except Exception:
            log.exception("acl: a housekeeping round failed; trying again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), auth.settings.sync_s)


async def run(stop: asyncio.Event) -> None:
    core = Settings()
    db = await Database.connect(core.resolved_database_url(), max_size=2, wait_s=60)
    try:
        await serve(db, AclAuth(AclSettings(_env_prefix="STRATO_ACL_")), stop)
    finally:
        await db.close()


if __name__ == "__main__":
    run_until_signal(run)
