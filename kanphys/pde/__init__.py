"""PDE problems: the problem object model, the expression parser, compilation to torch."""
