package ballot

import "strings"

// SyncCopySrc is the Lua script that brings one shard's copy of a poll up
// to date; the vote server runs it on every shard but the poll's home
// after a create, close or reopen there, and the worker runs it to put
// back what Redis lost. KEYS[1] is the copy. ARGV[1] is the definition
// JSON, written only when the copy has none ("" writes none); ARGV[2] the
// state and ARGV[3] the stream id on the home shard of the command it
// comes from, taken only when later than the copy's (PollStateAt), so
// copies end in the state of the latest command whatever order they are
// written in; ARGV[4] "1" for a restore, which leaves alone a state whose
// command is unknown (a copy written before state_at existed). Answers 1
// when it wrote anything, else 0.
//
// A copy missing on a shard (its vote server died between shards) gets
// the state alone, so a vote there is refused as closed rather than as
// unknown, until the worker restores the definition.
var SyncCopySrc = strings.NewReplacer("{def}", PollDef, "{state}", PollState, "{at}", PollStateAt).Replace(`
local function seq(id)
  local ms, n = string.match(id or '', '^(%d+)-(%d+)$')
  if not ms then return nil, nil end
  return tonumber(ms), tonumber(n)
end
local wrote = 0
if ARGV[1] ~= '' and redis.call('HEXISTS', KEYS[1], '{def}') == 0 then
  redis.call('HSET', KEYS[1], '{def}', ARGV[1])
  wrote = 1
end
local cur = redis.call('HMGET', KEYS[1], '{state}', '{at}')
local take
if not cur[1] then
  take = true
elseif not cur[2] then
  take = ARGV[4] ~= '1'
else
  local ams, an = seq(ARGV[3])
  local cms, cn = seq(cur[2])
  take = ams ~= nil and (cms == nil or ams > cms or (ams == cms and an > cn))
end
if take then
  redis.call('HSET', KEYS[1], '{state}', ARGV[2], '{at}', ARGV[3])
  wrote = 1
end
return wrote`)

// MoveLegacyCopySrc moves a poll's copy from its key before shards
// (KEYS[1], LegacyPollKey) to its key now (KEYS[2]), fields and all,
// unless a copy is there already; either way the old key goes. A key that
// is not a hash is left alone (another program's key that happens to
// match). Both keys must be on one Redis: the old layout existed only on a
// single Redis with one shard. Answers 1 when it moved a copy, else 0.
const MoveLegacyCopySrc = `
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return 0 end
local moved = 0
if redis.call('EXISTS', KEYS[2]) == 0 then
  local h = redis.call('HGETALL', KEYS[1])
  if #h > 0 then
    redis.call('HSET', KEYS[2], unpack(h))
    moved = 1
  end
end
redis.call('DEL', KEYS[1])
return moved`
