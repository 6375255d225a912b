"""The Redis broker transport: kombu's, with one guard so a worker outlives a Redis outage.

Why a shim (issue 17): with kombu 5.7.0 / celery 5.7.0 (the newest releases), a
worker that holds an unacknowledged message when Redis goes away (a countdown task
waiting for its time, or a running task with acks late: nearly always, here) dies
with `Unrecoverable error: AttributeError("'NoneType' object has no attribute
'hostname'")`. The sequence, reproduced with a private redis-server killed under an
idle worker holding one countdown task:

1. The consumer sees the connection error and calls `Connection.collect()`, which
   closes the default channel. `Channel.close()` first drains the BRPOP in flight;
   that read fails with a ConnectionError, so the close stops half way (the channel
   is not marked closed). `collect()` swallows it and then detaches the transport
   (`transport.client = None`).
2. Celery 5.7 then also calls `connection.close()`. The channel is closed again; this
   time it gets to `QoS.restore_unacked()`, which needs a Redis client, so the pool
   is rebuilt from `transport.client.hostname`: None, an AttributeError. Not a
   connection error, so nothing catches it and the worker exits.

No setting avoids it (restoring unacked messages on close cannot be turned off by a
transport option, and the worker must hold countdown messages for the debounce), and
no newer release exists. The guard: a detached transport's channel raises a redis
ConnectionError instead, which kombu and celery treat as the connection loss it is;
the consumer then reconnects with its usual back-off. The messages that could not be
put back on close stay in Redis's unacked set and return after `visibility_timeout`
(kombu's restore_visible), and analysis.pending's record re-enqueues what changed.

Used through CELERY_BROKER_TRANSPORT (biobank/settings.py) when the broker is Redis.
Remove it once kombu makes `Channel.close()` survive a failed drain.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise RedisConnectionError(
                "the broker connection was closed after a connection loss; reconnecting"
            )
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
