"""``python -m nnport`` runs the command line."""

from nnport.cli.app import main

main()
