"""The casework service: analysts review matches and CME officers work their authority's cases
in a browser. Django owns only its own tables (users, sessions, one-time-code devices, lockout
records, authority memberships); the register's tables are read and written through the
`register` package. Never shows a child outside the signed-in user's authorities."""
