-- Argo CD health check for kovirt.io/DataCenter (Lua 5.1, as Argo CD's gopher-lua).
-- Phases: Pending, Ready, Degraded, Failed, Deleting (kovirt/api/v1alpha1/datacenter.py).
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
  hs.message = "Ceph " .. (obj.status.cephHealth or "health unknown") .. ", hosts ready "
    .. (obj.status.hostsReady or 0) .. "/" .. (obj.status.hostsTotal or 0)
elseif phase == "Degraded" or phase == "Failed" then
  hs.status = "Degraded"
  hs.message = phase .. why
else
  hs.message = phase .. why
end
return hs
