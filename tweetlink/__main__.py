"""`python -m tweetlink` runs the command line."""

from tweetlink.cli import main

main()
