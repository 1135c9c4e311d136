"""The security audit trail: who signed in (or tried), who changed access, tokens, SOPs and webhooks."""
