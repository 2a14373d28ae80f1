-- Argo CD health check for kovirt.io/DiskImage (Lua 5.1, as Argo CD's gopher-lua).
-- Phases: Pending, Importing, Ready, Failed (kovirt/api/v1alpha1/diskimage.py).
local hs = { status = "Progressing", message = "Waiting for the operator to report status" }
if obj.status == nil or obj.status.phase == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and (obj.status.observedGeneration or 0) < generation then
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end
local why = ""
for _, condition in ipairs(obj.status.conditions or {}) do
  if condition.type == "Ready" and condition.message ~= nil and condition.message ~= "" then
    why = ": " .. condition.message
  end
end
local phase = obj.status.phase
if phase == "Ready" then
  hs.status = "Healthy"
  hs.message = "Imported"
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = phase .. why
elseif phase == "Importing" and obj.status.progress ~= nil then
  hs.message = "Importing: " .. tostring(obj.status.progress)
else
  hs.message = phase .. why
end
return hs
