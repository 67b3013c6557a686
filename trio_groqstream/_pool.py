"""httpcore's connection pool, without its quadratic bookkeeping, for the pool a client owns.

httpcore 1.0's pool re-plans itself on every request start and every response close
(``_assign_requests_to_connections``), and while doing so counts the pool's connections once per
*idle* connection, with a list built by calling ``is_idle()`` on every connection: N x idle calls
per close. A fan-out's streams end together, so the k-th close of a wave pays for k idle
connections: a wave of N streams costs O(N^2) calls, and it lands exactly when ``gather`` is about
to return (measured with 55 streams ending at once: the closing steps grew from 0.13 ms to
0.64 ms each, 20 ms in all, a third of the time budget of a stream followed live). The count is
only ever ``len(connections)`` (the list holds one boolean per connection), so this pool says that
and is otherwise the same method, line for line: the same connections are kept, reused, evicted
and closed in the same order (tests/test_pool.py runs both pools through the same scenarios).

Known upstream (encode/httpcore#929, #1035, not merged as of httpcore 1.0.9). The fix touches a
private method, so it is applied only to a plain ``httpcore.AsyncConnectionPool`` of a 1.0.x
release, in an ``httpx.AsyncClient`` the client created itself; anything else is left alone.
"""

from __future__ import annotations

import httpcore
import httpx
from httpcore import AsyncConnectionPool

__all__ = ["LinearPool", "linearize"]

_FIXED_IN = ("1", "0")  # the httpcore release line whose method this one mirrors


class LinearPool(AsyncConnectionPool):
    """``AsyncConnectionPool`` whose re-planning is linear in its connections.

    Adapted from httpcore 1.0.9 (``httpcore/_async/connection_pool.py``, BSD-3-Clause,
    Copyright © 2020, Encode OSS Ltd.), with the idle count done once per connection.
    """

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing = []
        connections = self._connections
        # Drop closed connections, close expired ones and, past the keep-alive limit, idle ones
        # (httpcore compares the count of *all* connections with the limit: kept as it is).
        for connection in list(connections):
            if connection.is_closed():
                connections.remove(connection)
            elif connection.has_expired() or (
                connection.is_idle() and len(connections) > self._max_keepalive_connections
            ):
                connections.remove(connection)
                closing.append(connection)

        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            available = [
                connection
                for connection in connections
                if connection.can_handle_request(origin) and connection.is_available()
            ]
            if available:
                pool_request.assign_to_connection(available[0])
                continue
            if len(connections) >= self._max_connections:
                idle = next((c for c in connections if c.is_idle()), None)
                if idle is None:
                    continue  # it waits for a connection to come free
                connections.remove(idle)
                closing.append(idle)
            connection = self.create_connection(origin)
            connections.append(connection)
            pool_request.assign_to_connection(connection)
        return closing


def _supported() -> bool:
    version = getattr(httpcore, "__version__", "")
    return tuple(version.split(".")[:2]) == _FIXED_IN and callable(
        getattr(AsyncConnectionPool, "_assign_requests_to_connections", None)
    )


def linearize(http: httpx.AsyncClient) -> bool:
    """Give ``http``'s own pool the linear re-planning, where it is exactly httpcore's 1.0 pool.

    Returns whether it did. Proxied routes (``HTTPS_PROXY``) keep httpcore's proxy pools.
    """
    pool = getattr(getattr(http, "_transport", None), "_pool", None)
    if type(pool) is not AsyncConnectionPool or not _supported():
        return False
    pool.__class__ = LinearPool
    return True
