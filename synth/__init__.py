"""Synthetic extracts with their ground truth, for the demo, the tests and the benches, and the
scores a register is measured by against that truth. Every person in them is invented."""
import lazy_loader

# The names other packages may import, each loaded from its module when first used.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "extracts": ["generate"],
})
