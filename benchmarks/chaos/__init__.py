"""The chaos suite: faults under load against real daemons, real Redis and real clients, and an
audit of Redis afterwards. Run it from the repository's root:

    python -m benchmarks.chaos --quick                      # every scenario, short (~2 minutes)
    python -m benchmarks.chaos                              # the issue's sizes (bounded in time)
    python -m benchmarks.chaos --only redis-kill fuzz --out benchmarks/out/chaos.json

Scenarios (one module each in scenarios/): daemon-kill, redis-kill, sentinel-failover,
duplicates, fuzz, slow-bodies, soak. Each prints one row of the table (sent, acknowledged, found,
lost, duplicated, double-assigned, over capacity, stuck, 5xx, tracebacks, recovery after each
fault) and the whole report goes to JSON.
"""
