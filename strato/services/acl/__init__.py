"""The ACL service: domains, accounts, users, roles, API key pairs with signed requests,
sessions, and per-account and per-domain resource limits (STRATO_SERVICES=acl).

It plugs into the core through the seam only (strato.services.base): an authenticator
(signed requests, session tokens), an authorizer (role rules, and the owners a caller
sees), resource limits, its routes under /api/v1/acl and its own migration track. The
core knows none of it: to the core a caller is a name, a scope and the owners it sees,
and an account is an opaque owner string on its rows (the account's id).
"""
