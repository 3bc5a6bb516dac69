"""The extract contract as Pandera schemas, a pure library: reading a CSV extract, validating it
row by row, identifiers (UPN, NHS number, postcode) and the receipt a provider gets back."""
import lazy_loader

# The names other packages may import, each loaded from its module when first used.
__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "cells": ["safe_cell"],
    "contract": ["CNIS_COLUMNS", "FileRejected", "PARENTS", "PROVIDERS", "RowFault"],
    "identifiers": ["is_pseudo_postcode", "nhs_check_digit", "nhs_digits", "nhs_valid", "per_distinct",
                   "postcode_district", "postcode_normalise", "postcode_sector", "upn_check_letter", "upn_valid"],
    "reader": ["ParsedExtract", "iter_extract", "read_extract"],
    "receipt": ["Receipt"],
    "validation": ["require_some_valid_rows", "validate_extract", "validate_extracts"],
})
