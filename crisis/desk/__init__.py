"""The desk: what is waiting for me, search across issues, incidents and statements, the notices
that tell people something waits for them, and `can()` for templates."""
