-- Argo CD health of a ZisBearerConnection (zis-operator.dev/v1alpha1), read from what the operator
-- writes (docs/resource.md, "Conditions"):
--   Healthy      Ready=True for the object's current generation
--   Progressing  no status yet, a generation the operator has not reported on, a deletion under
--                way, or retrying by itself (Reconciling=True: 429, 5xx, network)
--   Degraded     Stalled=True: a person must act (the reason and message say what), or Ready=False
--                with nothing retrying
--   Suspended    spec.suspend is true
-- Shipped in argocd-cm.yaml (resource.customizations.health.zis-operator.dev_ZisBearerConnection);
-- tests/gitops.rs runs it with a Lua 5.1 interpreter, as Argo CD's gopher-lua is, on sample and
-- live objects.
local hs = {}

local function condition(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c)
  local text = c.reason or c.type
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true: no remote calls are made"
  return hs
end

local status = obj.status
local generation = obj.metadata.generation
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report on this object"
  return hs
end
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report on generation " .. string.format("%d", generation)
  return hs
end

local stalled = condition(status.conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

local ready = condition(status.conditions, "Ready")
if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Being deleted"
  if ready ~= nil then
    hs.message = hs.message .. " (" .. describe(ready) .. ")"
  end
  return hs
end

local current = ready ~= nil and (ready.observedGeneration == nil or generation == nil or ready.observedGeneration == generation)
if current and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

local reconciling = condition(status.conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  if current and ready.status == "False" then
    -- Retrying by itself: the Ready reason (RateLimited, ZisUnavailable) says why.
    hs.message = describe(ready)
  else
    hs.message = describe(reconciling)
  end
  return hs
end

if current and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for Ready"
return hs
