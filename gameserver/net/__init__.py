"""The socket layer: WebSocket framing without I/O, and the daphne adapter on top of it.

`codec` is sans-I/O: bytes in, events out. `daphne` drives daphne's live
connections with it. Nothing here imports from the rest of the project,
Django, Twisted or asyncio: only the standard library (the adapter works on
the objects daphne hands it). docs/sockets.md is the contract.
"""
