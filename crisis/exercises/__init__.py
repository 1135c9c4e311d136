"""Drills (latihan): a playbook run as an exercise from a scripted scenario with timed injects, its
after-action evaluation, and each unit's readiness."""
