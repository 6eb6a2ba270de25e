"""Playbooks: safe YAML source, the schema and semantic checks, the model, inputs."""
