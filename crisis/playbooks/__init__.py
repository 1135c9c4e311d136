"""Playbooks (SOPs): the YAML format, its validator and the in-memory spec."""
