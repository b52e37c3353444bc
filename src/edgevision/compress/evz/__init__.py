"""The ``.evz`` file format, layered: :mod:`.bitio` (bit packing, varints, a bounds-checked reader) →
:mod:`.huffman` (canonical length-limited codes) → :mod:`.streams` (an integer stream, fixed-width or Huffman) →
:mod:`.csr` (relative column gaps with filler zeros) → :mod:`.codec` (one tensor: raw / codebook / csr) →
:mod:`.container` (the file, CRC-32 per section, and the ``.evz`` entry in ``LOADERS``); :mod:`.pack` holds the
``pack`` / ``unpack`` stages (Han et al. 2016, Deep Compression)."""

from . import container  # noqa: F401  (registers the .evz artifact loader)
