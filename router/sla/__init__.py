"""Service levels: SLA policies, the clocks each request keeps, the timer that fires their
warnings and breaches, and what follows from them."""
