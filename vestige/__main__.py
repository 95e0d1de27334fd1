from vestige.cli import main

main()
