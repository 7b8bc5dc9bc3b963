NAME = "duplicates"


async def run(ctx):
    raise NotImplementedError
