"""Notice channels (e-mail, webhook, in-app), their rendering, and signed acknowledgement links."""
