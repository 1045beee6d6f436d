"""`python -m adaptrade` runs the command line."""

from adaptrade.cli import main

if __name__ == "__main__":
    main()
