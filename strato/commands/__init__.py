"""The one place where an operation is accepted, for every front door.

A command validates its request against the inventory, asks the installed
:class:`~strato.commands.auth.Authorizer`, writes the intent, takes the resource's lock,
records the operation and starts its workflow run (two-phase, with the orchestrator's
sweep behind it). Front doors (the REST API, the CloudStack-compatible API, services)
parse their own wire format, build a :class:`~strato.commands.context.CommandContext`,
call a command and shape its :class:`~strato.commands.view.Accepted` answer.

    commands/
      auth.py        Caller, Action, Authorizer (the hook), ApiKeyScopes (the default)
      context.py     CommandContext: stores, engine, settings, caller; run() = accept + view
      operations.py  record / start / sweep_unstarted / accept (Idempotency-Key)
      view.py        OperationView (state, step, progress, error, result), Accepted
      fabric.py      add_host
      compute.py     deploy_vm, act_on_vm (start, stop, reboot, scale, destroy, recover, expunge)
      storage.py     create_volume, attach/detach/resize/destroy/recover/expunge_volume
      snapshots.py   create/revert/delete_snapshot
      policies.py    snapshot policies (Temporal Schedules), reconcile (pause/resume/remove)
      policy_steps.py  the policies' runs' activities (they act through the commands above)
"""
