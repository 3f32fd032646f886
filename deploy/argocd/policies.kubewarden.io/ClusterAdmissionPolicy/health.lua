-- Argo CD health check for Kubewarden ClusterAdmissionPolicies, aware of the sidecarset reconciler.
--
-- Policies labelled sidecarset.kubewarden.io/reconcile=true are judged by the status the reconciler
-- writes as JSON in the annotation sidecarset.kubewarden.io/status (Kruise's SidecarSet status
-- fields): Degraded on invalid settings, Suspended when paused, Progressing until the reconciler
-- has seen the current generation and updatedReadyPods reaches matchedPods, Healthy otherwise.
-- Other policies are judged by Kubewarden's status.policyStatus.
--
-- Argo CD runs this with gopher-lua (Lua 5.1) and no JSON library, hence the small decoder below;
-- the tests run it with Lua 5.4, so it sticks to what both have.

local STATUS_ANNOTATION = "sidecarset.kubewarden.io/status"
local RECONCILE_LABEL = "sidecarset.kubewarden.io/reconcile"

-- A JSON decoder for the status annotation: objects, arrays, strings (with \u escapes of the
-- Basic Multilingual Plane), numbers, true, false, null. Returns nil and a message on bad input.
local function decode(text)
  local pos = 1
  local function fail(msg)
    error({ json = msg .. " at byte " .. pos }, 0)
  end
  local function skip()
    pos = string.find(text, "[^ \t\r\n]", pos) or (#text + 1)
  end
  local value
  local function utf8char(code)
    if code < 0x80 then
      return string.char(code)
    elseif code < 0x800 then
      return string.char(0xC0 + math.floor(code / 0x40), 0x80 + code % 0x40)
    end
    return string.char(0xE0 + math.floor(code / 0x1000), 0x80 + math.floor(code / 0x40) % 0x40,
      0x80 + code % 0x40)
  end
  local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
  local function str()
    pos = pos + 1
    local parts = {}
    while true do
      local c = string.sub(text, pos, pos)
      if c == "" then
        fail("unterminated string")
      elseif c == '"' then
        pos = pos + 1
        return table.concat(parts)
      elseif c == "\\" then
        local e = string.sub(text, pos + 1, pos + 1)
        if e == "u" then
          local hex = string.sub(text, pos + 2, pos + 5)
          if not string.find(hex, "^%x%x%x%x$") then
            fail("bad \\u escape")
          end
          parts[#parts + 1] = utf8char(tonumber(hex, 16))
          pos = pos + 6
        elseif escapes[e] then
          parts[#parts + 1] = escapes[e]
          pos = pos + 2
        else
          fail("bad escape")
        end
      else
        local stop = string.find(text, '["\\]', pos) or (#text + 1)
        parts[#parts + 1] = string.sub(text, pos, stop - 1)
        pos = stop
      end
    end
  end
  value = function()
    skip()
    local c = string.sub(text, pos, pos)
    if c == "{" then
      local obj = {}
      pos = pos + 1
      skip()
      if string.sub(text, pos, pos) == "}" then
        pos = pos + 1
        return obj
      end
      while true do
        skip()
        if string.sub(text, pos, pos) ~= '"' then
          fail("expected a key")
        end
        local k = str()
        skip()
        if string.sub(text, pos, pos) ~= ":" then
          fail("expected ':'")
        end
        pos = pos + 1
        obj[k] = value()
        skip()
        local d = string.sub(text, pos, pos)
        pos = pos + 1
        if d == "}" then
          return obj
        elseif d ~= "," then
          fail("expected ',' or '}'")
        end
      end
    elseif c == "[" then
      local arr = {}
      pos = pos + 1
      skip()
      if string.sub(text, pos, pos) == "]" then
        pos = pos + 1
        return arr
      end
      while true do
        arr[#arr + 1] = value()
        skip()
        local d = string.sub(text, pos, pos)
        pos = pos + 1
        if d == "]" then
          return arr
        elseif d ~= "," then
          fail("expected ',' or ']'")
        end
      end
    elseif c == '"' then
      return str()
    elseif string.sub(text, pos, pos + 3) == "true" then
      pos = pos + 4
      return true
    elseif string.sub(text, pos, pos + 4) == "false" then
      pos = pos + 5
      return false
    elseif string.sub(text, pos, pos + 3) == "null" then
      pos = pos + 4
      return nil
    end
    local s, e = string.find(text, "^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not s then
      fail("unexpected character")
    end
    pos = e + 1
    return tonumber(string.sub(text, s, e))
  end
  local ok, result = pcall(function()
    local v = value()
    skip()
    if pos <= #text then
      fail("trailing characters")
    end
    return v
  end)
  if ok then
    return result
  end
  if type(result) == "table" and result.json then
    return nil, result.json
  end
  return nil, tostring(result)
end

local function num(v)
  if type(v) == "number" then
    return v
  end
  return 0
end

local hs = {}
local meta = obj.metadata or {}
local labels = meta.labels or {}
local annotations = meta.annotations or {}

if labels[RECONCILE_LABEL] ~= "true" then
  local ps = obj.status and obj.status.policyStatus
  if ps == "active" then
    hs.status = "Healthy"
    hs.message = "policy active"
  elseif ps == "unschedulable" then
    hs.status = "Degraded"
    hs.message = "policy unschedulable: no policy server to run it"
  else
    hs.status = "Progressing"
    hs.message = "policy " .. tostring(ps or "not yet scheduled")
  end
  return hs
end

local raw = annotations[STATUS_ANNOTATION]
if raw == nil or raw == "" then
  hs.status = "Progressing"
  hs.message = "waiting for the sidecarset reconciler's first status"
  return hs
end
local st, err = decode(raw)
if type(st) ~= "table" then
  hs.status = "Degraded"
  hs.message = "annotation " .. STATUS_ANNOTATION .. " is not a JSON object: " .. tostring(err)
  return hs
end

if st.error ~= nil and st.error ~= "" then
  hs.status = "Degraded"
  hs.message = "invalid settings: " .. tostring(st.error)
  return hs
end
if st.paused == true then
  hs.status = "Suspended"
  hs.message = "updateStrategy.paused: " .. num(st.updatedReadyPods) .. "/" .. num(st.matchedPods) ..
      " Pods updated and ready"
  return hs
end
local generation = num(meta.generation)
if num(st.observedGeneration) < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the reconciler to see generation " .. generation
  return hs
end
if st.updateType == "NotUpdate" then
  -- A set that never upgrades has no rollout to wait for.
  hs.status = "Healthy"
  hs.message = "updateStrategy.type NotUpdate: " .. num(st.matchedPods) .. " Pods matched"
  return hs
end
local matched = num(st.matchedPods)
local updatedReady = num(st.updatedReadyPods)
if updatedReady < matched then
  hs.status = "Progressing"
  hs.message = updatedReady .. "/" .. matched .. " Pods updated and ready"
  if num(st.notUpgradablePods) > 0 then
    hs.message = hs.message .. "; " .. num(st.notUpgradablePods) ..
        " not upgradable in place (they get the new sidecars when recreated)"
  end
  return hs
end
hs.status = "Healthy"
hs.message = "all " .. matched .. " matched Pods updated and ready"
if num(st.uninjectedPods) > 0 then
  hs.message = hs.message .. "; " .. num(st.uninjectedPods) ..
      " selected Pods were created without the sidecars (recreate them to inject)"
end
return hs
