"""One way from a user's file to results, shared by the app, the command line and batch."""
