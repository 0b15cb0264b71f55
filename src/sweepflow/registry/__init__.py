"""Model registry: register the final model, the champion rule, and the served model."""
