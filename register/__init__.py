"""The database kernel: the engine and its settings, the tables (models) and their migrations, the
run lock, kept sessions, the one clock, owner-only files, key-value state and file checksums. It
holds no domain: each room keeps its own tables' code over it."""
import lazy_loader

# The names other packages may import, each loaded from its module when first used.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "configured": ["Configured"],
    "checksums": ["file_sha256"],
    "clock": ["today", "utc_now", "utc_stamp"],
    "db": ["DEFAULT_URL", "RowValues", "begin_write", "disk_full", "grant_service_role", "insert_frame",
          "insert_values", "make_engine", "open_register", "placeholder", "read_frame"],
    "kept": ["Kept"],
    "lock": ["RegisterBusy", "register_lock"],
    "models": ["AccessAlert", "AuditCheckpoint", "AuditChild", "AuditEntry", "AuditHead", "CandidatePair",
              "CaseNote", "CaseTimescale", "Child", "ChildEvent", "CmeCase", "CnisEntry", "CnisStep", "CmeFlag", "CmeList",
              "ExtractFile", "KEY_SLOTS",
              "LinkageModel", "OutboxMessage", "PostcodeDirectory", "ProviderStatus", "QuarantinedRow",
              "RecordCluster", "RecordIndex", "ReferenceData", "RegisterState", "ReviewDecision", "ShieldedMember",
              "SourceRecord"],
    "private": ["fsync_dir", "open_private", "owner_only_umask", "private_dir", "private_file"],
    "state": ["fingerprint", "get_state", "set_state"],
})
