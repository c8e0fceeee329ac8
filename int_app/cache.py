"""Django's Redis cache with one redis-py client per connection pool, made once.

Django builds a new `redis.Redis` for every cache call (its response callbacks each time), about a
tenth of a millisecond: a cached page makes three calls (the session, the person, the page).
A redis-py client is safe to share between threads (it takes a connection from its pool per
command) and its pool reconnects after a fork, so one per pool is enough."""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class ReusedClientRedisCache(RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
