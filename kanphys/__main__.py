"""``python -m kanphys``: the command line, for launchers such as ``torchrun -m kanphys``."""

from kanphys.cli import main

raise SystemExit(main())
