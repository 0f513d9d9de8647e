"""Make asyncio set TCP_NODELAY on every accepted TCP socket (on PYTHONPATH of MLflow's server processes only)."""

# Why: uvicorn with --workers binds its listening socket as socket.socket(family), proto 0, and asyncio sets
# TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, so every accepted connection keeps Nagle's algorithm.
# uvicorn sends a response's head and body in two writes; the body then waits for the client's delayed ACK,
# ~40 ms on every request. (A single uvicorn worker binds through asyncio, proto 6, and does not stall.)
import asyncio.base_events
import socket


def _set_nodelay(sock: socket.socket) -> None:
    if sock.family in {socket.AF_INET, socket.AF_INET6} and sock.type == socket.SOCK_STREAM:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


asyncio.base_events._set_nodelay = _set_nodelay
