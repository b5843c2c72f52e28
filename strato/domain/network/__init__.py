"""Network: guest networks, NICs and addresses."""
