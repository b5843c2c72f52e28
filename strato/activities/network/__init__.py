"""Network activities: switch, router and address steps on a host's or router's queue."""
