"""A local OpenSSH SFTP server for the demo and the tests (never for production)."""
import lazy_loader

# The names other packages may import, each loaded from its module when first used.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "server": ["DemoSftpServer", "sftp_available"],
})
