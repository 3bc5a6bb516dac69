"""The casework service: analysts review matches and CME officers work their authority's cases
in a browser. Django owns only its own tables (users, sessions, one-time-code devices, lockout
records, authority memberships); the register's tables are read and written through the
`register` package. Never shows a child outside the signed-in user's authorities."""
import lazy_loader

# The names other packages may import, each loaded from its module when first used.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "users": ["UserError", "add_user", "disable_user", "list_users", "setup", "totp_secret", "user_name"],
})
