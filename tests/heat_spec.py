"""The heat-equation spec that the command-line and crash tests write to disk."""

from __future__ import annotations


def heat_toml(name: str, training: str = "") -> str:
    """TOML of ``u_t = u_xx / pi^2`` on [-1, 1] x [0, 1] with its closed-form reference;
    ``training`` is the body of the ``[training]`` table (the table ends the text, so lines
    appended later also land in it)."""
    return f"""
name = "{name}"
description = "heat equation ({name})"
fields = ["u"]
equations = ["u_t = u_xx/pi**2"]

[domain]
x = [-1.0, 1.0]
t = [0.0, 1.0]
time = "t"

[[conditions]]
where = "t = 0"
equation = "u = sin(pi*x)"

[[conditions]]
where = "boundary"
equation = "u = 0"

[reference]
u = "exp(-t)*sin(pi*x)"

[training]
{training}"""
