"""Quality review: each day's sample of closed requests (drawn by a pure function, taken once
across daemons by a background task) for reviewers to score against the desk's dimensions."""
