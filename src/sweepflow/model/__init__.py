"""The network and one trial: build, train, score (plain dict of params in; no tracking)."""
