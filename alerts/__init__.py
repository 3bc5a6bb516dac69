"""Alert channels: how an alert reaches a person (e-mail over SMTP to the privacy officers)."""
import lazy_loader

# The names other packages may import, each loaded from its module when first used.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "channels": ["deliver"],
    "notify": ["raise_alert"],
    "outbox": ["enqueue"],
    "routes": ["load_routes"],
    "settings": ["AlertSettings", "alert_settings", "configure_alerts"],
})
