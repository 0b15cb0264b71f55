"""Data prep: read a source, split it, fit the preprocessing on the training rows."""
