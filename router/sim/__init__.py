"""frontdesk.router.sim: The simulator: runs the real matcher over a modelled day (arrivals,
agents, handling times) in simulated time, with Erlang C for comparison; `frontdesk simulate`."""
