"""frontdesk.router.routing: Who gets what: the dispatcher's rounds, the head of each queue, the
pure matcher (greedy and batch), offer windows, callback windows, wait estimates, and the watch
over vanished agents."""
