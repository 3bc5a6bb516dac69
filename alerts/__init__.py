"""Alert channels: how an alert reaches a person (e-mail over SMTP to the privacy officers)."""
