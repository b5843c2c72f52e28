"""What every workflow shares: the failure guard, failure types, progress, search attributes."""
