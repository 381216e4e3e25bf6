-- Argo CD health check for posthog.com/PostHog (argocd-cm key
-- resource.customizations.health.posthog.com_PostHog). Reads the Degraded,
-- Ready and Progressing conditions the operator writes, plus SpecValid and
-- observedGeneration, so a freshly edited PostHog is Progressing until the
-- operator has seen the edit.
local hs = { status = "Progressing", message = "Waiting for the operator to report status" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end

local function text(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason or c.type
end

local generation = obj.metadata and obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= nil and observed < generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local by_type = {}
for _, c in ipairs(obj.status.conditions) do
  by_type[c.type] = c
end

local specValid, degraded = by_type["SpecValid"], by_type["Degraded"]
local ready, progressing = by_type["Ready"], by_type["Progressing"]
if specValid ~= nil and specValid.status == "False" then
  hs.status = "Degraded"
  hs.message = text(specValid)
elseif degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = text(degraded)
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready)
elseif progressing ~= nil and progressing.status == "True" then
  hs.status = "Progressing"
  hs.message = text(progressing)
elseif obj.status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = (ready ~= nil and text(ready)) or "The operator reports phase Failed"
elseif ready ~= nil then
  hs.message = text(ready)
end
return hs
