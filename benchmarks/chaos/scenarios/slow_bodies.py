NAME = "slow-bodies"


async def run(ctx):
    raise NotImplementedError
