NAME = "sentinel-failover"


async def run(ctx):
    raise NotImplementedError
