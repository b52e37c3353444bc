"""``edgevision faces enroll | identify | verify | delete | list | eval``: the face gallery verbs."""

from __future__ import annotations

import argparse
from typing import Any

from ..utils.text import printable
from .common import add_common, add_threads, emit_json, options, parser_kwargs

EXAMPLES = """example:
  edgevision faces eval runs/faces/train --impostors orl --set impostors.options.subjects=31-40 --db faces.db
  edgevision faces enroll --db faces.db --artifact runs/faces/train --name "Ada Lovelace" ada1.jpg ada2.jpg
  edgevision faces identify --db faces.db photo.jpg --k 3
  edgevision faces verify --artifact runs/faces/train a.jpg b.jpg --threshold 0.45
  edgevision faces delete --db faces.db --name "Ada Lovelace"
  edgevision faces list --db faces.db"""


def _detect_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-detect", dest="detect", action="store_false",
                   help="images are already face crops: skip the Haar detector")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON to stdout")
    add_threads(p)


def add_faces(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("faces", help="face gallery: enroll, identify, verify, delete, list, eval (open set)",
                       description="Face recognition with a SQLite gallery of embeddings (reference doc 003).",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    fs = p.add_subparsers(dest="faces_verb", metavar="<action>", required=True)
    e = fs.add_parser("enroll", help="add a person's face images to the gallery (no retraining)")
    e.add_argument("--db", required=True, help="SQLite gallery file (created if missing)")
    e.add_argument("--name", required=True, help="the person's name (free text, stored literally)")
    e.add_argument("--artifact", help="face model (required for a new gallery)")
    e.add_argument("--threshold", type=float, help="store this acceptance threshold in the gallery")
    e.add_argument("images", nargs="+")
    _detect_flag(e)
    e.set_defaults(func=cmd_enroll)
    i = fs.add_parser("identify", help="rank-k names with cosine scores for the face in each image")
    i.add_argument("--db", required=True)
    i.add_argument("--artifact", help="default: the model the gallery was created with")
    i.add_argument("--k", type=int, default=5)
    i.add_argument("--threshold", type=float, help="default: the gallery's (chosen on validation)")
    i.add_argument("images", nargs="+")
    _detect_flag(i)
    i.set_defaults(func=cmd_identify)
    v = fs.add_parser("verify", help="are the faces in two images the same person?")
    v.add_argument("--artifact", required=True)
    v.add_argument("--threshold", type=float, default=0.5)
    v.add_argument("image_a")
    v.add_argument("image_b")
    _detect_flag(v)
    v.set_defaults(func=cmd_verify)
    d = fs.add_parser("delete", help="remove every embedding of a name")
    d.add_argument("--db", required=True)
    d.add_argument("--name", required=True)
    d.add_argument("--artifact")
    d.set_defaults(func=cmd_delete, json=False)
    ls = fs.add_parser("list", help="names in the gallery and its model id / threshold")
    ls.add_argument("--db", required=True)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)
    ev = fs.add_parser("eval", **parser_kwargs("closed-set rank-1 and open-set TAR@FAR with held-out impostors",
                                               "edgevision faces eval runs/faces/train --impostors orl "
                                               "--set impostors.options.subjects=31-40"))
    ev.add_argument("artifact")
    ev.add_argument("--impostors", help="data source of identities never enrolled")
    ev.add_argument("--db", help="also write a gallery of the known identities with the chosen threshold")
    add_threads(ev)
    add_common(ev)
    ev.set_defaults(func=cmd_eval)


def _print(res: Any, args: argparse.Namespace, line: str) -> None:
    if getattr(args, "json", False):
        emit_json(res)
    else:
        print(line)


def cmd_enroll(args: argparse.Namespace) -> None:
    from ..faces import enroll

    r = enroll(args.db, args.name, args.images, args.artifact, args.detect, args.threshold, threads=args.threads)
    skipped = "".join(f"\n  skipped {printable(s['file'])}: {s['reason']}" for s in r["skipped"])
    _print(r, args, f"enrolled {r['added']} image(s) of {r['name']!r} ({r['total']} in total){skipped}")


def cmd_identify(args: argparse.Namespace) -> None:
    from ..faces import identify

    rows = identify(args.db, args.images, args.artifact, args.k, args.threshold, args.detect, threads=args.threads)
    lines = [f"{printable(r['file'])}: {r['error']}" if "error" in r else
             f"{printable(r['file'])}: {printable(r['name'])} {r['score']:.3f}  (" +
             ", ".join(f"{printable(x['name'])} {x['score']:.3f}" for x in r["ranked"]) + ")" for r in rows]
    _print(rows, args, "\n".join(lines))


def cmd_verify(args: argparse.Namespace) -> None:
    from ..faces import verify

    r = verify(args.image_a, args.image_b, args.artifact, args.threshold, args.detect, threads=args.threads)
    _print(r, args, f"{'same person' if r['same'] else 'different people'}: cosine {r['score']:.3f} "
                    f"(threshold {r['threshold']:.3f})")


def cmd_delete(args: argparse.Namespace) -> None:
    from ..faces import delete

    r = delete(args.db, args.name, args.artifact)
    print(f"deleted {r['removed']} embedding(s) of {r['name']!r}")


def cmd_list(args: argparse.Namespace) -> None:
    from ..faces import list_gallery

    r = list_gallery(args.db)
    meta = {k: printable(str(v)) for k, v in r["meta"].items()}  # the gallery file is untrusted input too
    head = f"model {meta.get('model_name')} ({meta.get('model_id')}), threshold {meta.get('threshold', 'default')}"
    _print(r, args, "\n".join([head] + [f"  {printable(n)}: {c}" for n, c in r["names"].items()]))


def cmd_eval(args: argparse.Namespace) -> None:
    from ..faces import faces_eval

    res = faces_eval(args.artifact, out=args.out, **options(args, {"impostors.source": args.impostors,
                                                                   "db": args.db, "threads": args.threads}))
    _print(res.metrics, args, f"faces eval in {res.run_dir}: " + ", ".join(
        f"{k} {v:.4f}" for k, v in res.metrics.items()))


PARSERS = [add_faces]
