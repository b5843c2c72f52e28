"""Pure domain: models, enums, state machines and errors. No I/O; safe in the workflow sandbox."""
