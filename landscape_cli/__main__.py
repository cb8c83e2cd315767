from landscape_cli.cli import main

main()
