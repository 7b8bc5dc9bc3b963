NAME = "fuzz"


async def run(ctx):
    raise NotImplementedError
