"""The socket layer's bottom: WebSocket framing without I/O.

Nothing here imports from the rest of the project, Django, Twisted or asyncio:
only the standard library. Adapters for a particular server sit on top.
"""
