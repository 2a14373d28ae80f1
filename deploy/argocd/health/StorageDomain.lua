-- Argo CD health check for kovirt.io/StorageDomain (Lua 5.1, as Argo CD's gopher-lua).
-- Phases: Provisioning, Active, Maintenance, Deleting, Failed
-- (kovirt/api/v1alpha1/storagedomain.py). Maintenance is asked for by an admin
-- (spec.maintenance), so it reads as Suspended, not as a fault.
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
if phase == "Active" then
  hs.status = "Healthy"
  hs.message = "Active"
elseif phase == "Maintenance" then
  hs.status = "Suspended"
  hs.message = "In maintenance (spec.maintenance): takes no new disks"
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = phase .. why
else
  hs.message = phase .. why
end
return hs
