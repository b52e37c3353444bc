"""Small shared helpers: atomic I/O, seeding, shape parsing, progress bars."""
