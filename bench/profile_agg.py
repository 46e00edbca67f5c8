"""Summarise a py-spy ``--format raw`` profile: inclusive and self share per frame.

py-spy is not a project dependency; install it in a throwaway venv, e.g.
``python3 -m venv /tmp/prof-venv && /tmp/prof-venv/bin/pip install py-spy``, then
``/tmp/prof-venv/bin/py-spy record -r 500 -f raw -o prof.txt -- .venv/bin/python bench/X.py …``
and: ``.venv/bin/python bench/profile_agg.py prof.txt [--within FRAME] [--top 40]``
(``--within`` keeps only the samples whose stack holds a frame containing FRAME, e.g.
``LabLoop._run`` for the lab's thread, and shares are of those samples.)
"""

from __future__ import annotations

import argparse
import collections
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("profile")
    p.add_argument("--within", default="", help="only stacks with a frame containing this")
    p.add_argument("--top", type=int, default=40)
    args = p.parse_args()
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    with open(args.profile, encoding="utf-8") as handle:
        for line in handle:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            frames = stack.split(";")
            if args.within and not any(args.within in f for f in frames):
                continue
            n = int(count)
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    print(f"{total} samples" + (f" within {args.within}" if args.within else ""))
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"--- {title}")
        for frame, n in counter.most_common(args.top):
            print(f"{100 * n / max(total, 1):5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
