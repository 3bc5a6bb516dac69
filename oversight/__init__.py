"""Who looked at which child, and who may see what: the audit log, the unusual-access rules and
their alerts, the shield over shielded children, reading the register for people at a screen
within their authorities, retention and subject access."""
