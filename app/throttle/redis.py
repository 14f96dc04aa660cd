"""The login throttle every node shares: sorted sets in Redis, reserved by one script (atomic across nodes).

Each counter is two sorted sets scored by time: failures, and pending reservations. If Redis
cannot be reached the attempt goes through untracked (and the outage is logged): staff must be
able to log in during a Redis outage, and passwords are still verified.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.throttle.base import PENDING_TTL_S, Attempt, LoginThrottle, Throttled, ThrottleLimits, attempt_for

__all__ = ["RedisLoginThrottle"]

log = logging.getLogger("app.throttle")

# KEYS: (failed, pending) for pair, address, account; then known.  ARGV: now, token, address, known seconds,
# pending ttl, then limit and span for pair, address, account.
# Returns "ok" (reserved), "crowded" (full of pending attempts) or the seconds to wait.
_RESERVE = """
local now, token, address = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local seen = redis.call('ZSCORE', KEYS[7], address)
local known = seen and tonumber(seen) >= now - tonumber(ARGV[4])
local wait, crowded = 0, false
for i = 0, 2 do
  local failed, pending = KEYS[2 * i + 1], KEYS[2 * i + 2]
  local limit, span = tonumber(ARGV[6 + 2 * i]), tonumber(ARGV[7 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', failed, '-inf', now - span)
  redis.call('ZREMRANGEBYSCORE', pending, '-inf', now - tonumber(ARGV[5]))
  if not (i == 2 and known) then
    local n = redis.call('ZCARD', failed)
    if n >= limit then
      local oldest = redis.call('ZRANGE', failed, 0, 0, 'WITHSCORES')
      local w = tonumber(oldest[2]) + span - now
      if w > wait then wait = w end
    elseif n + redis.call('ZCARD', pending) >= limit then
      crowded = true
    end
  end
end
if wait > 0 then return tostring(wait) end
if crowded then return 'crowded' end
for i = 0, 2 do
  redis.call('ZADD', KEYS[2 * i + 2], now, token)
  redis.call('EXPIRE', KEYS[2 * i + 2], math.ceil(tonumber(ARGV[5])) + 1)
end
return 'ok'
"""

# KEYS as above. ARGV: now, token, address, succeeded (1/0), known seconds, pair span, account span.
_SETTLE = """
local now, token, succeeded = tonumber(ARGV[1]), ARGV[2], ARGV[4] == '1'
for i = 0, 2 do
  local removed = redis.call('ZREM', KEYS[2 * i + 2], token)
  if removed == 1 and not succeeded then
    local span = i == 2 and tonumber(ARGV[7]) or tonumber(ARGV[6])
    redis.call('ZADD', KEYS[2 * i + 1], now, token)
    redis.call('EXPIRE', KEYS[2 * i + 1], math.ceil(span) + 1)
  end
end
if succeeded then
  redis.call('DEL', KEYS[1])
  redis.call('ZADD', KEYS[7], now, ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - tonumber(ARGV[5]))
  redis.call('EXPIRE', KEYS[7], math.ceil(tonumber(ARGV[5])) + 1)
end
return 1
"""


class RedisLoginThrottle:
    def __init__(self, redis: Redis, limits: ThrottleLimits, *, namespace: str = "fx") -> None:
        self._redis = redis
        self._limits = limits
        self._ns = namespace
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)

    def _keys(self, attempt: Attempt) -> list[str]:
        base = f"{self._ns}:login"
        names = (f"pair:{attempt.username}|{attempt.address}", f"addr:{attempt.address}", f"acct:{attempt.username}")
        keys = [f"{base}:{name}:{part}" for name in names for part in ("failed", "pending")]
        return [*keys, f"{base}:known:{attempt.username}"]

    async def try_reserve(self, username: str, address: str) -> Attempt | None:
        attempt, lim = attempt_for(username, address), self._limits
        args: list[str | float] = [time.time(), attempt.token, attempt.address, lim.known_s, PENDING_TTL_S]
        args += [lim.per_pair, lim.window_s, lim.per_address, lim.window_s, lim.per_account, lim.account_window_s]
        try:
            reply = await self._reserve(keys=self._keys(attempt), args=args)
        except (RedisError, OSError) as exc:
            log.warning("login throttle unavailable (%s): not enforced", exc)
            return Attempt(attempt.username, attempt.address, attempt.token, tracked=False)
        answer = reply.decode() if isinstance(reply, bytes) else str(reply)
        if answer == "ok":
            return attempt
        if answer == "crowded":
            return None
        raise Throttled(float(answer))

    async def settle(self, attempt: Attempt, *, succeeded: bool) -> None:
        if not attempt.tracked:
            return
        lim = self._limits
        args: list[str | float] = [time.time(), attempt.token, attempt.address, int(succeeded), lim.known_s]
        args += [lim.window_s]
        try:
            await self._settle(keys=self._keys(attempt), args=[*args, lim.account_window_s])
        except (RedisError, OSError) as exc:
            log.warning("login throttle unavailable (%s): attempt not recorded", exc)

    async def cancel(self, attempt: Attempt) -> None:
        if not attempt.tracked:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in self._keys(attempt)[1:6:2]:
                    pipe.zrem(key, attempt.token)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("login throttle unavailable (%s)", exc)


_check: type[LoginThrottle] = RedisLoginThrottle
