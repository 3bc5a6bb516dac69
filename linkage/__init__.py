"""The register's side of linking: the current records, the link index, relinking (full and
incremental), stable child ids, the review queue and analysts' rulings, and each child's history.
The pure linkage library it drives is `matching`."""
