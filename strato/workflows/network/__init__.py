"""Network workflows: guest network and virtual router operations, one module per operation."""
