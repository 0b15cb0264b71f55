"""Task configuration: the task YAML validated once into frozen dataclasses, and per-kind facts."""
