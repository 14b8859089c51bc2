"""Layer-for-layer replicas of the networks in the seed reports (registered as ``paper/<name>``, fixed input shapes)."""
