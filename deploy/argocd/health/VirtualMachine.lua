-- Argo CD health check for kovirt.io/VirtualMachine (Lua 5.1, as Argo CD's gopher-lua).
-- Phases: Pending, Provisioning, Scheduled, Starting, Running, Stopping, Stopped,
-- Migrating, Failed (kovirt/api/v1alpha1/virtualmachine.py). A VM stopped on purpose
-- (runStrategy Halted or Manual) is Suspended, as Argo CD shows KubeVirt's stopped VMs.
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
local strategy = (obj.spec or {}).runStrategy or "Always"
if phase == "Running" then
  hs.status = "Healthy"
  hs.message = "Running on " .. (obj.status.host or "an unknown host")
elseif phase == "Stopped" and (strategy == "Halted" or strategy == "Manual") then
  hs.status = "Suspended"
  hs.message = "Stopped (runStrategy " .. strategy .. ")"
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = phase .. why
else
  hs.message = phase .. why
end
return hs
