"""The ``kanphys`` command line. The only module that prints, configures logging and exits."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from kanphys._version import __version__
from kanphys.errors import KanphysError

__all__ = ["main"]


def _info(args: argparse.Namespace) -> int:
    from kanphys.runtime import environment_info

    info = environment_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"kanphys {info['versions']['kanphys']}")
    print("versions:")
    for name, version in info["versions"].items():
        if name != "kanphys":
            print(f"  {name:<11} {version if version is not None else 'not installed'}")
    device = info["device"]
    print("device:")
    print(f"  auto        {device['auto']}")
    cuda = (
        f"available (CUDA {device['cuda_version']})"
        if device["cuda_available"]
        else "not available"
    )
    print(f"  cuda        {cuda}")
    for gpu in device["gpus"]:
        print(f"  gpu {gpu['index']}       {gpu['name']} ({gpu['memory_gib']} GiB)")
    threads = info["threads"]
    print("threads:")
    print(f"  torch       {threads['torch_intraop']} intra-op, {threads['torch_interop']} inter-op")
    print(f"  cpu count   {threads['cpu_count']}")
    print(f"platform: {info['platform']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kanphys",
        description="Physics-informed Kolmogorov-Arnold Networks: solve PDEs, discover laws.",
    )
    parser.add_argument("--version", action="version", version=f"kanphys {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser("info", help="print versions, compute device and thread counts")
    info.add_argument("--json", action="store_true", help="print the information as JSON")
    info.set_defaults(handler=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kanphys`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except KanphysError as error:
        print(f"kanphys: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
