"""What turns a config into a CLI verb: the config class carries a :class:`Verb` as its ``cli`` class variable.

The CLI (``edgevision.cli``) finds every config with a ``cli`` in :data:`edgevision.configs.MODULES` and builds
``edgevision <name>`` from it: one flag per field (type, choices, help and default from the field), positional
arguments for ``args``, and ``examples`` in the help. A new stage gets its CLI by declaring its config here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verb:
    """``edgevision <name> [args...] [--flags]`` → ``call(**options)``.

    Attributes:
        name: the verb (``"prune"``), or ``"group verb"`` for a sub-verb (``"faces enroll"``).
        call: ``"module:function"`` called with the options as keywords (the public function of the same name).
        help: one line for the list of verbs.
        examples: shell lines shown by ``--help`` (each runs as written, from the repository's root).
        args: config fields taken as positional arguments, in order.
        out: the verb takes ``--out`` (passed as ``out=``).
        show: ``"module:function"`` that turns the result into text (default: the card's headline).
        json: what ``--json`` prints: a key of the card, or ``"module:function"`` of the result (default: the card,
            or the result itself when it is not a stage's).
        aliases: extra flag spellings, ``("--keep", "keep_ratios")``: old names and short forms.
    """

    name: str
    call: str
    help: str
    examples: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    out: bool = True
    show: str | None = None
    json: str | None = None
    aliases: tuple[tuple[str, str], ...] = ()


# Flags every verb with a ``data`` option also takes: the data source and its most used keys, by short names.
DATA_ALIASES = (("--data", "data.source"), ("--input-size", "data.input_size"), ("--channels", "data.channels"),
                ("--workers", "data.num_workers"))
