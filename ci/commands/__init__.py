"""One module per `python -m ci` command; each exposes NAME, HELP, add_arguments() and run()."""
