"""A local OpenSSH SFTP server for the demo and the tests (never for production)."""
