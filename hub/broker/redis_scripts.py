"""The Redis broker's stored format and the Lua scripts that keep it: one topic's ``seq``, history and
channel change together, atomically, whichever node publishes (``hub.broker.redis``).

A topic is a meta hash (``epoch``, ``seq``, ``guard``), a history list of entries
``seq \\n [ts, event, key] \\n data`` and a pub/sub channel carrying ``epoch \\n entry``.
"""

from __future__ import annotations

import orjson

from hub.history import Publication

__all__ = ["PUBLISH", "READ", "entry_of"]

# KEYS: meta hash, history list. ARGV: epoch if new, header, data, history size (0: none), ttl, channel,
# guard (-1: none). A guard not above the topic's last one is a repeat: nothing is done, seq -1 returned.
PUBLISH = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local guard = tonumber(ARGV[7])
if guard >= 0 then
  if guard <= tonumber(redis.call('HGET', KEYS[1], 'guard') or '-1') then
    return {-1, epoch}
  end
  redis.call('HSET', KEYS[1], 'guard', ARGV[7])
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local entry = seq .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[3]
local size = tonumber(ARGV[4])
if size > 0 then
  redis.call('RPUSH', KEYS[2], entry)
  redis.call('LTRIM', KEYS[2], -size, -1)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', ARGV[6], epoch .. '\\n' .. entry)
return {seq, epoch}
"""

# KEYS: meta hash, history list. ARGV: epoch if new, ttl, after (-1: no history). Returns seq, epoch, entries...
# Entries are contiguous in seq, so the ones after ``after`` are the list's last (seq - after): no full read.
READ = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local out = {seq, epoch}
local after = tonumber(ARGV[3])
if after >= 0 and seq > after then
  for _, entry in ipairs(redis.call('LRANGE', KEYS[2], after - seq, -1)) do
    table.insert(out, entry)
  end
end
return out
"""


def entry_of(topic: str, epoch: str, entry: bytes) -> Publication:
    """``seq \\n [ts, event, key] \\n data`` (orjson never writes a raw newline)."""
    seq, header, data = entry.split(b"\n", 2)
    ts, event, key = orjson.loads(header)
    return Publication(topic, int(seq), epoch, event, data, float(ts), key)
