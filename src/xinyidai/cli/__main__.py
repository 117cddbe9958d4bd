"""`python -m xinyidai.cli`."""

from xinyidai.cli import main

main()
