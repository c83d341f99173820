#!/usr/bin/env python3
"""The original design's WebSocket server: aiohttp + redis-py asyncio, one process.

As in the 2018 post: a dict of open sockets, a Redis subscriber on the channel, and each
message broadcast to the sockets with asyncio.gather. Added so the benchmark compares the
same job as peyk's gateway: the JWT check of PROTOCOL.md §2/§5 before the upgrade (401 for
no/bad token, 403 for a role that may not watch), the `echo-protocol` subprotocol, and who
sees what (admins everything, dispatchers their fleets, customers their orders; the
message is forwarded as published, as the original did).
"""
import argparse
import asyncio
import json
import logging
import os
import sys

import jwt
import redis.asyncio as aioredis
from aiohttp import web

LEEWAY_S = 2


def token_of(request):
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:].strip()
    return request.query.get("token") or request.cookies.get("peyk_token")


def authenticate(request, secret):
    """The claims of a valid viewer token; raises 401/403 before the upgrade."""
    token = token_of(request)
    if not token:
        raise web.HTTPUnauthorized()
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], leeway=LEEWAY_S,
                            options={"require": ["exp"]})
    except jwt.InvalidTokenError:
        raise web.HTTPUnauthorized()
    if claims.get("role") not in ("admin", "dispatcher", "customer"):
        raise web.HTTPForbidden()
    return claims


class App(web.Application):
    def __init__(self, secret, redis_url, channel):
        super().__init__()
        self.secret = secret
        self.redis_url = redis_url
        self.channel = channel
        self["sockets"] = set()  # admins: every message
        self["by_fleet"] = {}    # fleet -> sockets of dispatchers
        self["by_order"] = {}    # order id -> sockets of customers
        self.router.add_get("/ws", self.websocket_handler)
        self.on_startup.append(self.start_listener)
        self.on_cleanup.append(self.stop_listener)

    def _index(self, ws, claims, add):
        role = claims["role"]
        if role == "admin":
            (self["sockets"].add if add else self["sockets"].discard)(ws)
            return
        key, table = ("fleets", self["by_fleet"]) if role == "dispatcher" else ("orders", self["by_order"])
        for k in claims.get(key) or []:
            group = table.setdefault(str(k), set())
            if add:
                group.add(ws)
            else:
                group.discard(ws)
                if not group:
                    del table[str(k)]

    async def websocket_handler(self, request):
        claims = authenticate(request, self.secret)
        ws = web.WebSocketResponse(protocols=("echo-protocol",), heartbeat=20)
        await ws.prepare(request)
        self._index(ws, claims, True)
        try:
            async for _ in ws:  # viewers send nothing we need
                pass
        finally:
            self._index(ws, claims, False)
        return ws

    def targets(self, data):
        targets = set(self["sockets"])
        if self["by_fleet"] or self["by_order"]:
            try:
                message = json.loads(data)
            except ValueError:
                return targets
            fleet = message.get("fleet")
            if fleet is not None:
                targets |= self["by_fleet"].get(str(fleet), set())
            for order in message.get("orders") or []:
                targets |= self["by_order"].get(str(order), set())
        return targets

    async def listen(self):
        redis = aioredis.from_url(self.redis_url)
        pubsub = redis.pubsub()
        await pubsub.subscribe(self.channel)
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            data = message["data"].decode()
            targets = self.targets(data)
            if targets:
                await asyncio.gather(*[ws.send_str(data) for ws in targets],
                                     return_exceptions=True)

    async def start_listener(self, app):
        self["listener"] = asyncio.create_task(self.listen())

    async def stop_listener(self, app):
        self["listener"].cancel()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", default="127.0.0.1:8082")
    p.add_argument("--redis", default="redis://127.0.0.1:6379")
    p.add_argument("--channel", default="dlchannel")
    a = p.parse_args()
    secret = os.environ.get("PEYK_JWT_SECRET")
    if not secret:
        sys.exit("aiohttp_gateway: PEYK_JWT_SECRET is not set")
    host, port = a.listen.rsplit(":", 1)
    logging.basicConfig(level=logging.WARNING)
    web.run_app(App(secret, a.redis, a.channel), host=host, port=int(port), access_log=None,
                backlog=4096, print=None)


if __name__ == "__main__":
    main()
