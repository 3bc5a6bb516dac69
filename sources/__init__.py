"""What providers send, up to register rows: collection over SFTP into the raw archive and the
ledger, naming and sidecars, mapping a feed's columns to records, preparing and storing rows,
held extracts, each provider's deliveries, reference data, provider keys, receipts and backups."""
import lazy_loader

# The names other packages may import, each loaded from its module when first used.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "acknowledge": ["load_and_acknowledge"],
    "backups": ["BackupError", "backup", "restore"],
    "collection": ["DEFAULT_ARCHIVE", "DEFAULT_MAX_FILE_BYTES", "collect", "complete_files", "pending_files"],
    "deliveries": ["DeliveryProblem", "delivery_problems", "files_by_provider", "load_cadence", "provider_deliveries",
                  "provider_status",
                  "save_provider_status", "stale_rolls"],
    "held": ["NotHeld", "held_files", "reject_held", "release_held"],
    "naming": ["SIDECAR_SUFFIX", "parse_name", "parse_sidecar"],
    "reference": ["ReferenceError", "load_postcode_directory", "postcode_authorities", "reference_version"],
    "router": ["SourceRouter", "make_router"],
})
